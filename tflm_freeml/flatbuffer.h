/*
 * Bounds-checked reading of a FlatBuffer in place.
 *
 * A .tflite file comes from users and from the field, so every offset is
 * checked against the buffer before it is followed: a truncated or hostile
 * file gives FREEML_FB_CORRUPT, never an out-of-bounds read. Nothing is
 * copied; positions are byte offsets from the start of the buffer.
 */
#ifndef FREEML_FLATBUFFER_H_
#define FREEML_FLATBUFFER_H_

#include <stdint.h>

typedef enum {
  FREEML_FB_ABSENT = 0,  /* field not present: the caller uses the default */
  FREEML_FB_PRESENT = 1, /* field present and in bounds */
  FREEML_FB_CORRUPT = -1 /* an offset or length points outside the buffer */
} freeml_fb_result;

typedef struct {
  const uint8_t *data;
  uint32_t size;
} freeml_fb_buffer;

typedef struct {
  uint32_t pos;         /* position of the table's soffset to its vtable */
  uint32_t vtable;      /* position of the vtable */
  uint16_t vtable_size; /* bytes, including the two header fields */
} freeml_fb_table;

typedef struct {
  uint32_t pos; /* position of element 0 */
  uint32_t length;
} freeml_fb_vector;

/* The root table; also checks the minimum size. */
freeml_fb_result freeml_fb_root(const freeml_fb_buffer *fb,
                                freeml_fb_table *root);

/* Scalar fields. `out` receives `def` when the field is absent. */
freeml_fb_result freeml_fb_u8(const freeml_fb_buffer *fb,
                              const freeml_fb_table *t, uint16_t field,
                              uint8_t def, uint8_t *out);
freeml_fb_result freeml_fb_i8(const freeml_fb_buffer *fb,
                              const freeml_fb_table *t, uint16_t field,
                              int8_t def, int8_t *out);
freeml_fb_result freeml_fb_i32(const freeml_fb_buffer *fb,
                               const freeml_fb_table *t, uint16_t field,
                               int32_t def, int32_t *out);
freeml_fb_result freeml_fb_u32(const freeml_fb_buffer *fb,
                               const freeml_fb_table *t, uint16_t field,
                               uint32_t def, uint32_t *out);
freeml_fb_result freeml_fb_u64(const freeml_fb_buffer *fb,
                               const freeml_fb_table *t, uint16_t field,
                               uint64_t def, uint64_t *out);
freeml_fb_result freeml_fb_f32(const freeml_fb_buffer *fb,
                               const freeml_fb_table *t, uint16_t field,
                               float def, float *out);

/* Sub-table, vector or string field (strings are byte vectors). */
freeml_fb_result freeml_fb_table_field(const freeml_fb_buffer *fb,
                                       const freeml_fb_table *t,
                                       uint16_t field, freeml_fb_table *out);
freeml_fb_result freeml_fb_vector_field(const freeml_fb_buffer *fb,
                                        const freeml_fb_table *t,
                                        uint16_t field, uint32_t elem_size,
                                        freeml_fb_vector *out);

/* Element i of a vector of tables (i < length is checked). */
freeml_fb_result freeml_fb_vector_table(const freeml_fb_buffer *fb,
                                        const freeml_fb_vector *v, uint32_t i,
                                        freeml_fb_table *out);

/* Element i of scalar vectors; the vector was bounds-checked when read, the
 * index is checked here (out of range gives 0). */
int32_t freeml_fb_vector_i32(const freeml_fb_buffer *fb,
                             const freeml_fb_vector *v, uint32_t i);
int64_t freeml_fb_vector_i64(const freeml_fb_buffer *fb,
                             const freeml_fb_vector *v, uint32_t i);
float freeml_fb_vector_f32(const freeml_fb_buffer *fb,
                           const freeml_fb_vector *v, uint32_t i);

#endif /* FREEML_FLATBUFFER_H_ */
