/* The flatbuffer layer reads valid tables and refuses every offset that
 * leaves the buffer. */
#include <string.h>

#include "tflm_freeml/flatbuffer.h"
#include "tflm_freeml/model_reader.h"
#include "tflm_freeml/tests/check.h"

/* A hand-assembled buffer: root table at 16 with a u32 field (42) and a
 * vector field [7, -1, 5]; its vtable sits at 8. */
static const uint8_t kBuffer[44] = {
    16, 0, 0, 0, 'T', 'F', 'L', '3',  /* root offset, identifier */
    8, 0, 12, 0, 4, 0, 8, 0,          /* vtable: size 8, table 12, fields */
    8, 0, 0, 0,                       /* table: soffset to vtable */
    42, 0, 0, 0,                      /* field 0 */
    4, 0, 0, 0,                       /* field 1: uoffset to the vector */
    3, 0, 0, 0,                       /* vector length */
    7, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 5, 0, 0, 0};

static void test_reads_valid_buffer(void) {
  freeml_fb_buffer fb;
  freeml_fb_table root;
  freeml_fb_vector v;
  uint32_t value = 0;
  fb.data = kBuffer;
  fb.size = sizeof(kBuffer);
  CHECK(freeml_fb_root(&fb, &root) == FREEML_FB_PRESENT);
  CHECK(freeml_fb_u32(&fb, &root, 0, 0, &value) == FREEML_FB_PRESENT);
  CHECK_EQ_INT(value, 42);
  CHECK(freeml_fb_u32(&fb, &root, 2, 9, &value) == FREEML_FB_ABSENT);
  CHECK_EQ_INT(value, 9);
  CHECK(freeml_fb_vector_field(&fb, &root, 1, 4, &v) == FREEML_FB_PRESENT);
  CHECK_EQ_INT(v.length, 3);
  CHECK_EQ_INT(freeml_fb_vector_i32(&fb, &v, 0), 7);
  CHECK_EQ_INT(freeml_fb_vector_i32(&fb, &v, 1), -1);
  CHECK_EQ_INT(freeml_fb_vector_i32(&fb, &v, 2), 5);
  CHECK_EQ_INT(freeml_fb_vector_i32(&fb, &v, 3), 0); /* out of range */
  /* The same vector read as 8-byte elements would run past the end. */
  CHECK(freeml_fb_vector_field(&fb, &root, 1, 8, &v) == FREEML_FB_CORRUPT);
}

static void test_truncations_never_read_outside(void) {
  uint32_t size;
  for (size = 0; size < sizeof(kBuffer); ++size) {
    freeml_fb_buffer fb;
    freeml_fb_table root;
    freeml_fb_vector v;
    uint32_t value;
    fb.data = kBuffer;
    fb.size = size;
    if (freeml_fb_root(&fb, &root) != FREEML_FB_PRESENT) continue;
    /* A root that passes must have its fields either in bounds or
     * reported corrupt: never a read past `size`. */
    if (freeml_fb_u32(&fb, &root, 0, 0, &value) == FREEML_FB_PRESENT) {
      CHECK(root.pos + 8 <= size);
    }
    if (freeml_fb_vector_field(&fb, &root, 1, 4, &v) == FREEML_FB_PRESENT) {
      CHECK(v.pos + 4u * v.length <= size);
    }
  }
}

static void test_hostile_offsets(void) {
  uint8_t copy[sizeof(kBuffer)];
  freeml_fb_buffer fb;
  freeml_fb_table root;
  freeml_fb_vector v;
  fb.data = copy;
  fb.size = sizeof(copy);

  memcpy(copy, kBuffer, sizeof(copy));
  copy[0] = 200; /* root beyond the end */
  CHECK(freeml_fb_root(&fb, &root) == FREEML_FB_CORRUPT);

  memcpy(copy, kBuffer, sizeof(copy));
  copy[16] = 0x80; /* soffset puts the vtable after the end */
  copy[19] = 0xFF;
  CHECK(freeml_fb_root(&fb, &root) == FREEML_FB_CORRUPT);

  memcpy(copy, kBuffer, sizeof(copy));
  copy[10] = 200; /* table claims more bytes than the buffer has */
  CHECK(freeml_fb_root(&fb, &root) == FREEML_FB_CORRUPT);

  memcpy(copy, kBuffer, sizeof(copy));
  copy[28] = 0xFF; /* vector length far beyond the end */
  copy[31] = 0x7F;
  CHECK(freeml_fb_root(&fb, &root) == FREEML_FB_PRESENT);
  CHECK(freeml_fb_vector_field(&fb, &root, 1, 4, &v) == FREEML_FB_CORRUPT);

  memcpy(copy, kBuffer, sizeof(copy));
  copy[24] = 0xF0; /* uoffset wraps around */
  copy[27] = 0xFF;
  CHECK(freeml_fb_root(&fb, &root) == FREEML_FB_PRESENT);
  CHECK(freeml_fb_vector_field(&fb, &root, 1, 4, &v) == FREEML_FB_CORRUPT);
}

static void test_model_open_refuses_non_models(void) {
  freeml_model model;
  freeml_error error;
  static const uint8_t kText[] = "hello, this is not a model at all";
  CHECK(freeml_model_open(&model, kText, sizeof(kText), &error) ==
        FREEML_ERR_MODEL);
  CHECK(strstr(error.message, "TFL3") != 0);
  CHECK(freeml_model_open(&model, kBuffer, 4, &error) == FREEML_ERR_MODEL);
  /* The right identifier but no schema version or subgraphs. */
  CHECK(freeml_model_open(&model, kBuffer, sizeof(kBuffer), &error) ==
        FREEML_ERR_MODEL);
}

int main(void) {
  test_reads_valid_buffer();
  test_truncations_never_read_outside();
  test_hostile_offsets();
  test_model_open_refuses_non_models();
  TEST_MAIN_END();
}
