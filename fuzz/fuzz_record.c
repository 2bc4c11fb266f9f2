/* libFuzzer harness for elm_record_from_json, the reader of a results store's record JSON (a store
 * can come from another machine): a record it accepts must write back with elm_record_to_json and
 * read again to the same text; one it refuses must leave the record zeroed, with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "edgelm/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* r as elm_record_to_json's printed text (malloc'd), or NULL when out of memory. */
static char *record_text(const elm_record_t *r)
{
    cJSON *j = elm_record_to_json(r);
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static elm_record_t r, back, zero;
    cJSON *j = cJSON_ParseWithLength((const char *)data, size), *j2 = NULL;
    char *text = NULL, *text2 = NULL;
    elm_diag_t d;
    if (!j) return 0;
    elm_diag_clear(&d);
    /* garbage first, so a refusal that leaves a field behind shows */
    memset(&r, 0xa5, sizeof r);
    int rc = elm_record_from_json(j, &r, &d);
    if (rc) {
        if (memcmp(&r, &zero, sizeof r) != 0 || !d.msg[0] || rc != d.code) __builtin_trap();
        goto done;
    }
    /* accepted: written back, the text reads again to a record that writes the same text */
    if (!(text = record_text(&r)) || !(j2 = cJSON_Parse(text))) __builtin_trap();
    if (elm_record_from_json(j2, &back, &d) || !(text2 = record_text(&back)) ||
        strcmp(text, text2) != 0)
        __builtin_trap();
done:
    free(text);
    free(text2);
    cJSON_Delete(j2);
    cJSON_Delete(j);
    return 0;
}
