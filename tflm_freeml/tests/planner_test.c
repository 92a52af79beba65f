/* The planner never lets tensors alive at the same time share bytes, and
 * reuses memory where lifetimes allow. */
#include <stdlib.h>

#include "tflm_freeml/planner.h"
#include "tflm_freeml/tests/check.h"

static freeml_tensor_plan tensor(uint32_t bytes, int first, int last) {
  freeml_tensor_plan t;
  t.offset = 0;
  t.bytes = bytes;
  t.first_op = (int16_t)first;
  t.last_op = (int16_t)last;
  return t;
}

static int overlaps(const freeml_tensor_plan *a, const freeml_tensor_plan *b) {
  int alive_together = a->first_op <= b->last_op && b->first_op <= a->last_op;
  int share_bytes = a->offset < b->offset + b->bytes &&
                    b->offset < a->offset + a->bytes;
  return alive_together && share_bytes;
}

static void check_valid(const freeml_tensor_plan *t, int n, uint32_t total) {
  int i, j;
  for (i = 0; i < n; ++i) {
    if (t[i].bytes == 0) {
      CHECK(t[i].offset == FREEML_UNPLANNED);
      continue;
    }
    CHECK(t[i].offset % FREEML_PLAN_ALIGNMENT == 0);
    CHECK(t[i].offset + t[i].bytes <= total);
    for (j = i + 1; j < n; ++j) {
      if (t[j].bytes != 0 && overlaps(&t[i], &t[j])) {
        fprintf(stderr, "tensors %d and %d overlap\n", i, j);
        CHECK(0);
      }
    }
  }
}

static void test_chain_ping_pongs(void) {
  /* input -> op0 -> a -> op1 -> b -> op2 -> output: two buffers suffice. */
  freeml_tensor_plan t[4];
  uint32_t total;
  t[0] = tensor(100, -1, 0);
  t[1] = tensor(200, 0, 1);
  t[2] = tensor(200, 1, 2);
  t[3] = tensor(10, 2, 3);
  total = freeml_plan_greedy(t, 4);
  check_valid(t, 4, total);
  CHECK_EQ_INT(total, 2 * 208); /* 200 bytes aligned to 16 */
  CHECK(t[1].offset != t[2].offset);
}

static void test_residual_keeps_skip_alive(void) {
  /* x (op0..op2) feeds an ADD at op2 with y = f(g(x)). */
  freeml_tensor_plan t[4];
  uint32_t total;
  t[0] = tensor(64, -1, 2);
  t[1] = tensor(64, 0, 1);
  t[2] = tensor(64, 1, 2);
  t[3] = tensor(64, 2, 3);
  total = freeml_plan_greedy(t, 4);
  check_valid(t, 4, total);
  CHECK_EQ_INT(total, 192);
}

static void test_constants_are_not_planned(void) {
  freeml_tensor_plan t[3];
  uint32_t total;
  t[0] = tensor(16, -1, 0);
  t[1] = tensor(0, -2, -2);
  t[2] = tensor(16, 0, 1);
  total = freeml_plan_greedy(t, 3);
  check_valid(t, 3, total);
  CHECK(t[1].offset == FREEML_UNPLANNED);
  CHECK_EQ_INT(total, 32);
}

static void test_random_graphs_are_valid(void) {
  freeml_tensor_plan t[40];
  int round, i;
  srand(7);
  for (round = 0; round < 200; ++round) {
    int n = 1 + rand() % 40;
    uint32_t total, sum = 0, peak = 0;
    int op;
    for (i = 0; i < n; ++i) {
      int first = rand() % 20 - 1;
      int last = first + rand() % 6;
      t[i] = tensor((uint32_t)(rand() % 5 == 0 ? 0 : 1 + rand() % 3000),
                    first, last);
      sum += (t[i].bytes + 15u) & ~15u;
    }
    total = freeml_plan_greedy(t, (uint32_t)n);
    check_valid(t, n, total);
    CHECK(total <= sum);
    /* No plan can be smaller than the bytes alive at the busiest op. */
    for (op = -1; op < 26; ++op) {
      uint32_t alive = 0;
      for (i = 0; i < n; ++i) {
        if (t[i].bytes && t[i].first_op <= op && op <= t[i].last_op) {
          alive += t[i].bytes;
        }
      }
      if (alive > peak) peak = alive;
    }
    CHECK(total >= peak);
  }
}

int main(void) {
  test_chain_ping_pongs();
  test_residual_keeps_skip_alive();
  test_constants_are_not_planned();
  test_random_graphs_are_valid();
  TEST_MAIN_END();
}
