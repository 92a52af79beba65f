#include "tflm_freeml/planner.h"

static uint32_t align_up(uint32_t value) {
  return (value + FREEML_PLAN_ALIGNMENT - 1u) & ~(FREEML_PLAN_ALIGNMENT - 1u);
}

static int lifetimes_overlap(const freeml_tensor_plan *a,
                             const freeml_tensor_plan *b) {
  return a->first_op <= b->last_op && b->first_op <= a->last_op;
}

/* True if [offset, offset + bytes) is free of every placed tensor that is
 * alive at the same time as `t`. */
static int fits_at(const freeml_tensor_plan *tensors, uint32_t count,
                   const freeml_tensor_plan *t, uint32_t offset) {
  uint32_t i;
  for (i = 0; i < count; ++i) {
    const freeml_tensor_plan *other = &tensors[i];
    if (other == t || other->offset == FREEML_UNPLANNED ||
        !lifetimes_overlap(t, other)) {
      continue;
    }
    if (offset < other->offset + align_up(other->bytes) &&
        other->offset < offset + t->bytes) {
      return 0;
    }
  }
  return 1;
}

/* Lowest fitting offset: either 0 or the end of a conflicting tensor. */
static uint32_t lowest_offset(const freeml_tensor_plan *tensors,
                              uint32_t count, const freeml_tensor_plan *t) {
  uint32_t best = FREEML_UNPLANNED;
  uint32_t i;
  if (fits_at(tensors, count, t, 0)) return 0;
  for (i = 0; i < count; ++i) {
    const freeml_tensor_plan *other = &tensors[i];
    uint32_t candidate;
    if (other->offset == FREEML_UNPLANNED || !lifetimes_overlap(t, other)) {
      continue;
    }
    candidate = other->offset + align_up(other->bytes);
    if (candidate < best && fits_at(tensors, count, t, candidate)) {
      best = candidate;
    }
  }
  return best;
}

uint32_t freeml_plan_greedy(freeml_tensor_plan *tensors, uint32_t count) {
  uint32_t total = 0;
  uint32_t i;
  for (i = 0; i < count; ++i) tensors[i].offset = FREEML_UNPLANNED;
  for (;;) {
    /* Next: the largest unplaced tensor (lowest index on ties). */
    freeml_tensor_plan *next = 0;
    uint32_t end;
    for (i = 0; i < count; ++i) {
      freeml_tensor_plan *t = &tensors[i];
      if (t->bytes == 0 || t->offset != FREEML_UNPLANNED) continue;
      if (next == 0 || t->bytes > next->bytes) next = t;
    }
    if (next == 0) break;
    next->offset = lowest_offset(tensors, count, next);
    end = next->offset + align_up(next->bytes);
    if (end > total) total = end;
  }
  return total;
}
