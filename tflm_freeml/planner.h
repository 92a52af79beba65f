/*
 * Memory planner for activations.
 *
 * Works on (bytes, first op, last op) per tensor, like TFLM's greedy planner:
 * the largest tensors are placed first, each at the lowest offset that does
 * not overlap a placed tensor whose lifetime overlaps its own. Lifetimes are
 * inclusive, so an op's output never shares memory with its inputs: an op
 * reads buffer A and writes buffer B, which keeps re-running an op (or one of
 * its tiles) idempotent.
 */
#ifndef FREEML_PLANNER_H_
#define FREEML_PLANNER_H_

#include <stdint.h>

#define FREEML_PLAN_ALIGNMENT 16u
#define FREEML_UNPLANNED 0xFFFFFFFFu

typedef struct {
  uint32_t offset; /* in the activation area, or FREEML_UNPLANNED */
  uint32_t bytes;  /* 0: not an activation (constant or unused) */
  int16_t first_op; /* op that writes it; -1 for a graph input */
  int16_t last_op;  /* last op that reads it; num_ops for a graph output */
} freeml_tensor_plan;

/* Assigns offsets to every tensor with bytes > 0 and returns the size of the
 * activation area (a multiple of FREEML_PLAN_ALIGNMENT). */
uint32_t freeml_plan_greedy(freeml_tensor_plan *tensors, uint32_t count);

#endif /* FREEML_PLANNER_H_ */
