/* GPT-2's byte-level alphabet (byte-to-unicode): the visible character each byte stands for in a
 * byte-level BPE vocabulary, and its inverse, used by loading and encoding here and by convert's
 * generated vocabularies. */
#include "tokenizer/tok_internal.h"

/* GPT-2 keeps printable Latin-1 bytes as themselves and moves the rest to U+0100 upward, in byte
 * order, so that every byte has a visible character. */
static uint32_t byte_cp(uint8_t b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    uint32_t n = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174)) n++;
    return 256 + n;
}

int elm_tokenizer_byte_text(uint8_t b, char out[2])
{
    uint32_t cp = byte_cp(b);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

void elm__byte_alphabet_inverse(int16_t inv[ELM__N_BYTE_CP])
{
    for (int i = 0; i < ELM__N_BYTE_CP; i++)
        inv[i] = -1;
    for (int b = 0; b < 256; b++)
        inv[byte_cp((uint8_t)b)] = (int16_t)b;
}
