#include "tflm_freeml/flatbuffer.h"

#include <string.h>

/* Little-endian loads through memcpy: FlatBuffers are little-endian and the
 * positions need not be aligned. Callers check bounds first. */
static uint32_t load_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

static uint16_t load_u16(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}

static int in_bounds(const freeml_fb_buffer *fb, uint32_t pos, uint32_t len) {
  return pos <= fb->size && len <= fb->size - pos;
}

static freeml_fb_result table_at(const freeml_fb_buffer *fb, uint32_t pos,
                                 freeml_fb_table *out) {
  int64_t vtable;
  uint16_t vtable_size;
  uint16_t table_size;
  if (!in_bounds(fb, pos, 4) || (pos & 3u) != 0) return FREEML_FB_CORRUPT;
  /* The soffset is signed and is subtracted: vtable = table - soffset. */
  vtable = (int64_t)pos - (int64_t)(int32_t)load_u32(fb->data + pos);
  if (vtable < 0 || vtable > (int64_t)fb->size || (vtable & 1) != 0) {
    return FREEML_FB_CORRUPT;
  }
  if (!in_bounds(fb, (uint32_t)vtable, 4)) return FREEML_FB_CORRUPT;
  vtable_size = load_u16(fb->data + vtable);
  table_size = load_u16(fb->data + vtable + 2);
  if (vtable_size < 4 || (vtable_size & 1u) != 0 ||
      !in_bounds(fb, (uint32_t)vtable, vtable_size) || table_size < 4 ||
      !in_bounds(fb, pos, table_size)) {
    return FREEML_FB_CORRUPT;
  }
  out->pos = pos;
  out->vtable = (uint32_t)vtable;
  out->vtable_size = vtable_size;
  return FREEML_FB_PRESENT;
}

freeml_fb_result freeml_fb_root(const freeml_fb_buffer *fb,
                                freeml_fb_table *root) {
  if (fb->data == 0 || fb->size < 8) return FREEML_FB_CORRUPT;
  return table_at(fb, load_u32(fb->data), root);
}

/* Position of a field's value, 0 if absent. `width` bytes must fit inside the
 * table's declared size. */
static freeml_fb_result field_pos(const freeml_fb_buffer *fb,
                                  const freeml_fb_table *t, uint16_t field,
                                  uint32_t width, uint32_t *pos) {
  uint32_t entry = 4u + 2u * (uint32_t)field;
  uint16_t offset;
  uint16_t table_size;
  if (entry + 2u > t->vtable_size) return FREEML_FB_ABSENT;
  offset = load_u16(fb->data + t->vtable + entry);
  if (offset == 0) return FREEML_FB_ABSENT;
  table_size = load_u16(fb->data + t->vtable + 2);
  if ((uint32_t)offset + width > table_size) return FREEML_FB_CORRUPT;
  *pos = t->pos + offset;
  return FREEML_FB_PRESENT;
}

static freeml_fb_result scalar(const freeml_fb_buffer *fb,
                               const freeml_fb_table *t, uint16_t field,
                               uint32_t width, const uint8_t **p) {
  uint32_t pos = 0;
  freeml_fb_result r = field_pos(fb, t, field, width, &pos);
  if (r == FREEML_FB_PRESENT) *p = fb->data + pos;
  return r;
}

freeml_fb_result freeml_fb_u8(const freeml_fb_buffer *fb,
                              const freeml_fb_table *t, uint16_t field,
                              uint8_t def, uint8_t *out) {
  const uint8_t *p = 0;
  freeml_fb_result r = scalar(fb, t, field, 1, &p);
  *out = r == FREEML_FB_PRESENT ? p[0] : def;
  return r;
}

freeml_fb_result freeml_fb_i8(const freeml_fb_buffer *fb,
                              const freeml_fb_table *t, uint16_t field,
                              int8_t def, int8_t *out) {
  uint8_t value = 0;
  freeml_fb_result r = freeml_fb_u8(fb, t, field, (uint8_t)def, &value);
  *out = (int8_t)value;
  return r;
}

freeml_fb_result freeml_fb_u32(const freeml_fb_buffer *fb,
                               const freeml_fb_table *t, uint16_t field,
                               uint32_t def, uint32_t *out) {
  const uint8_t *p = 0;
  freeml_fb_result r = scalar(fb, t, field, 4, &p);
  *out = r == FREEML_FB_PRESENT ? load_u32(p) : def;
  return r;
}

freeml_fb_result freeml_fb_i32(const freeml_fb_buffer *fb,
                               const freeml_fb_table *t, uint16_t field,
                               int32_t def, int32_t *out) {
  uint32_t value = 0;
  freeml_fb_result r = freeml_fb_u32(fb, t, field, (uint32_t)def, &value);
  *out = (int32_t)value;
  return r;
}

freeml_fb_result freeml_fb_u64(const freeml_fb_buffer *fb,
                               const freeml_fb_table *t, uint16_t field,
                               uint64_t def, uint64_t *out) {
  const uint8_t *p = 0;
  freeml_fb_result r = scalar(fb, t, field, 8, &p);
  *out = r == FREEML_FB_PRESENT
             ? (uint64_t)load_u32(p) | ((uint64_t)load_u32(p + 4) << 32)
             : def;
  return r;
}

freeml_fb_result freeml_fb_f32(const freeml_fb_buffer *fb,
                               const freeml_fb_table *t, uint16_t field,
                               float def, float *out) {
  uint32_t bits = 0;
  freeml_fb_result r = freeml_fb_u32(fb, t, field, 0, &bits);
  if (r == FREEML_FB_PRESENT) {
    memcpy(out, &bits, sizeof(*out));
  } else {
    *out = def;
  }
  return r;
}

/* Follows a uoffset stored at `pos` (relative to `pos`). */
static freeml_fb_result follow(const freeml_fb_buffer *fb, uint32_t pos,
                               uint32_t *target) {
  uint32_t offset;
  if (!in_bounds(fb, pos, 4)) return FREEML_FB_CORRUPT;
  offset = load_u32(fb->data + pos);
  if (offset == 0 || offset > fb->size - pos) return FREEML_FB_CORRUPT;
  *target = pos + offset;
  return FREEML_FB_PRESENT;
}

freeml_fb_result freeml_fb_table_field(const freeml_fb_buffer *fb,
                                       const freeml_fb_table *t,
                                       uint16_t field, freeml_fb_table *out) {
  uint32_t pos = 0;
  uint32_t target = 0;
  freeml_fb_result r = field_pos(fb, t, field, 4, &pos);
  if (r != FREEML_FB_PRESENT) return r;
  if (follow(fb, pos, &target) != FREEML_FB_PRESENT) return FREEML_FB_CORRUPT;
  return table_at(fb, target, out);
}

static freeml_fb_result vector_at(const freeml_fb_buffer *fb, uint32_t pos,
                                  uint32_t elem_size, freeml_fb_vector *out) {
  uint32_t length;
  if (!in_bounds(fb, pos, 4) || (pos & 3u) != 0) return FREEML_FB_CORRUPT;
  length = load_u32(fb->data + pos);
  if (elem_size != 0 && length > (fb->size - pos - 4u) / elem_size) {
    return FREEML_FB_CORRUPT;
  }
  out->pos = pos + 4u;
  out->length = length;
  return FREEML_FB_PRESENT;
}

freeml_fb_result freeml_fb_vector_field(const freeml_fb_buffer *fb,
                                        const freeml_fb_table *t,
                                        uint16_t field, uint32_t elem_size,
                                        freeml_fb_vector *out) {
  uint32_t pos = 0;
  uint32_t target = 0;
  freeml_fb_result r = field_pos(fb, t, field, 4, &pos);
  out->pos = 0;
  out->length = 0;
  if (r != FREEML_FB_PRESENT) return r;
  if (follow(fb, pos, &target) != FREEML_FB_PRESENT) return FREEML_FB_CORRUPT;
  return vector_at(fb, target, elem_size, out);
}

freeml_fb_result freeml_fb_vector_table(const freeml_fb_buffer *fb,
                                        const freeml_fb_vector *v, uint32_t i,
                                        freeml_fb_table *out) {
  uint32_t target = 0;
  if (i >= v->length) return FREEML_FB_CORRUPT;
  if (follow(fb, v->pos + 4u * i, &target) != FREEML_FB_PRESENT) {
    return FREEML_FB_CORRUPT;
  }
  return table_at(fb, target, out);
}

int32_t freeml_fb_vector_i32(const freeml_fb_buffer *fb,
                             const freeml_fb_vector *v, uint32_t i) {
  if (i >= v->length) return 0;
  return (int32_t)load_u32(fb->data + v->pos + 4u * i);
}

int64_t freeml_fb_vector_i64(const freeml_fb_buffer *fb,
                             const freeml_fb_vector *v, uint32_t i) {
  const uint8_t *p;
  if (i >= v->length) return 0;
  p = fb->data + v->pos + 8u * i;
  return (int64_t)((uint64_t)load_u32(p) | ((uint64_t)load_u32(p + 4) << 32));
}

float freeml_fb_vector_f32(const freeml_fb_buffer *fb,
                           const freeml_fb_vector *v, uint32_t i) {
  uint32_t bits;
  float value;
  if (i >= v->length) return 0.0f;
  bits = load_u32(fb->data + v->pos + 4u * i);
  memcpy(&value, &bits, sizeof(value));
  return value;
}
