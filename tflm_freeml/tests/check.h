/* Minimal test helpers for the runtime's C unit tests. */
#ifndef FREEML_TESTS_CHECK_H_
#define FREEML_TESTS_CHECK_H_

#include <stdio.h>

static int freeml_test_failures = 0;

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
              #cond);                                                 \
      ++freeml_test_failures;                                         \
    }                                                                 \
  } while (0)

#define CHECK_EQ_INT(got, expected)                                         \
  do {                                                                      \
    long long got_ = (long long)(got), expected_ = (long long)(expected);   \
    if (got_ != expected_) {                                                \
      fprintf(stderr, "%s:%d: %s: got %lld, expected %lld\n", __FILE__,     \
              __LINE__, #got, got_, expected_);                             \
      ++freeml_test_failures;                                               \
    }                                                                       \
  } while (0)

#define TEST_MAIN_END()                                              \
  do {                                                               \
    if (freeml_test_failures != 0) {                                 \
      fprintf(stderr, "%d check(s) failed\n", freeml_test_failures); \
      return 1;                                                      \
    }                                                                \
    printf("all checks passed\n");                                   \
    return 0;                                                        \
  } while (0)

#endif /* FREEML_TESTS_CHECK_H_ */
