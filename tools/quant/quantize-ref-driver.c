/* Runs ggml's reference quantizers over a file of f32 values, for tools/quant/make-quantize-vectors.py.
 *   usage: quantize-ref-driver TYPE_ID in.f32 out.bin   (TYPE_ID: ggml type id, 2 3 6 7 8 10..14)
 * Build against a ggml checkout (github.com/ggml-org/ggml; checked with commit d99724f2) on x86-64:
 *   gcc -O2 -std=gnu11 -I$GGML/include -I$GGML/src -I$GGML/src/ggml-cpu \
 *       tools/quant/quantize-ref-driver.c $GGML/src/ggml-quants.c -lm -o /tmp/quantize-ref-driver
 * (plain -O2 without -march: no FMA contraction, so every float operation rounds as written). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ggml-quants.h"
#include "ggml.h"

/* ggml-quants.c refers to these from ggml.c; the reference row quantizers never call them. */
void ggml_abort(const char *file, int line, const char *fmt, ...) {
  fprintf(stderr, "ggml_abort at %s:%d\n", file, line);
  abort();
}
size_t ggml_row_size(enum ggml_type type, int64_t ne) { return 0; }
const char *ggml_type_name(enum ggml_type type) { return "?"; }
size_t ggml_type_size(enum ggml_type type) { return 0; }

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  FILE *in = fopen(argv[2], "rb");
  if (!in) return 1;
  fseek(in, 0, SEEK_END);
  const long n = ftell(in) / 4;
  fseek(in, 0, SEEK_SET);
  float *x = malloc(n * sizeof(float));
  if (fread(x, sizeof(float), n, in) != (size_t)n) return 1;
  fclose(in);
  size_t bytes;
  void *y;
#define RUN(id, blk, per, fn)                 \
  case id:                                    \
    bytes = (n / (per)) * sizeof(blk);        \
    y = malloc(bytes);                        \
    fn(x, y, n);                              \
    break;
  switch (atoi(argv[1])) {
    RUN(2, block_q4_0, 32, quantize_row_q4_0_ref)
    RUN(3, block_q4_1, 32, quantize_row_q4_1_ref)
    RUN(6, block_q5_0, 32, quantize_row_q5_0_ref)
    RUN(7, block_q5_1, 32, quantize_row_q5_1_ref)
    RUN(8, block_q8_0, 32, quantize_row_q8_0_ref)
    RUN(10, block_q2_K, 256, quantize_row_q2_K_ref)
    RUN(11, block_q3_K, 256, quantize_row_q3_K_ref)
    RUN(12, block_q4_K, 256, quantize_row_q4_K_ref)
    RUN(13, block_q5_K, 256, quantize_row_q5_K_ref)
    RUN(14, block_q6_K, 256, quantize_row_q6_K_ref)
    default:
      return 2;
  }
  FILE *out = fopen(argv[3], "wb");
  if (!out || fwrite(y, 1, bytes, out) != bytes) return 1;
  fclose(out);
  return 0;
}
