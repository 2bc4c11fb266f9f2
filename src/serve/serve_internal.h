/* Internal helpers shared by the files of src/serve/: UTF-8 scanning for the stop matcher and the
 * JSON writers. */
#ifndef ELM_SERVE_INTERNAL_H
#define ELM_SERVE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Length of the well-formed UTF-8 character at s[0..n): 1..4; 0 when s[0..n) is a valid but
 * unfinished start of one (more bytes could complete it); -1 when it cannot be. */
int elm__serve_utf8_char(const uint8_t *s, size_t n);

#endif
