/*
 * freeml_run: runs a .tflite model with the FreeML runtime on the host.
 *
 *   freeml_run MODEL.tflite --input IN.bin [--input IN2.bin ...]
 *              --output OUT.bin [--arena-bytes N] [--print-memory]
 *              [--nvm PATH [--fail-after-writes N] [--max-tile-macs N]
 *               [--max-tile-bytes N] [--print-stats]]
 *
 * Inputs and outputs are the raw bytes of the graph's input and output
 * tensors in C order; several outputs are written one after the other.
 *
 * With --nvm the model runs in intermittent mode: activations and progress
 * live in the file PATH (created if missing), the arena holds only the op
 * tables and one tile's scratch. --fail-after-writes N simulates a power
 * failure at the N-th NVM write of this process (that write is torn: its
 * first half is stored). Running again with the same PATH and input resumes
 * the inference; a finished one answers again at once; another input starts
 * a new run.
 *
 * Exit status: 0 output written; 1 an I/O error; 2 bad usage or a bad model;
 * 75 a simulated power failure (run again to resume). Errors and notes go to
 * stderr as one line each.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tflm_freeml/crc32.h"
#include "tflm_freeml/host/nvm_file.h"
#include "tflm_freeml/intermittent.h"
#include "tflm_freeml/runtime.h"

#define EXIT_IO 1
#define EXIT_USAGE 2
#define EXIT_POWER_FAILURE 75 /* EX_TEMPFAIL: try again */
#define DEFAULT_ARENA_BYTES (64u << 20)
#define MESSAGE_SIZE 400

typedef struct {
  const char *model;
  const char *inputs[FREEML_MAX_IO];
  int num_inputs;
  const char *output;
  unsigned long arena_bytes;
  int print_memory;
  const char *nvm;
  unsigned long fail_after_writes;
  unsigned long max_tile_macs;
  unsigned long max_tile_bytes;
  int print_stats;
} options;

static int fail(int status, const char *message) {
  fprintf(stderr, "freeml_run: %s\n", message);
  return status;
}

/* Parses a positive integer option value; 0 on success. */
static int parse_count(const char *flag, const char *value,
                       unsigned long *out) {
  char *end = 0;
  char message[MESSAGE_SIZE];
  errno = 0;
  *out = strtoul(value, &end, 10);
  if (*end != '\0' || value[0] == '-' || errno != 0 || *out == 0 ||
      *out > 0xFFFFFFF0ul) {
    snprintf(message, sizeof(message), "bad %s value '%s'", flag, value);
    return fail(EXIT_USAGE, message);
  }
  return 0;
}

static int parse_args(int argc, char **argv, options *o) {
  int i;
  char message[MESSAGE_SIZE];
  memset(o, 0, sizeof(*o));
  o->arena_bytes = DEFAULT_ARENA_BYTES;
  for (i = 1; i < argc; ++i) {
    const char *arg = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : 0;
    int status = 0;
    if (strcmp(arg, "--print-memory") == 0) {
      o->print_memory = 1;
      continue;
    }
    if (strcmp(arg, "--print-stats") == 0) {
      o->print_stats = 1;
      continue;
    }
    if (arg[0] != '-' || arg[1] != '-') {
      if (o->model != 0) {
        snprintf(message, sizeof(message), "unexpected argument '%s'", arg);
        return fail(EXIT_USAGE, message);
      }
      o->model = arg;
      continue;
    }
    if (value == 0) {
      snprintf(message, sizeof(message), "unknown or incomplete option '%s'",
               arg);
      return fail(EXIT_USAGE, message);
    }
    ++i;
    if (strcmp(arg, "--input") == 0) {
      if (o->num_inputs == FREEML_MAX_IO) {
        return fail(EXIT_USAGE, "too many --input files");
      }
      o->inputs[o->num_inputs++] = value;
    } else if (strcmp(arg, "--output") == 0) {
      o->output = value;
    } else if (strcmp(arg, "--nvm") == 0) {
      o->nvm = value;
    } else if (strcmp(arg, "--arena-bytes") == 0) {
      status = parse_count(arg, value, &o->arena_bytes);
    } else if (strcmp(arg, "--fail-after-writes") == 0) {
      status = parse_count(arg, value, &o->fail_after_writes);
    } else if (strcmp(arg, "--max-tile-macs") == 0) {
      status = parse_count(arg, value, &o->max_tile_macs);
    } else if (strcmp(arg, "--max-tile-bytes") == 0) {
      status = parse_count(arg, value, &o->max_tile_bytes);
    } else {
      snprintf(message, sizeof(message), "unknown option '%s'", arg);
      return fail(EXIT_USAGE, message);
    }
    if (status != 0) return status;
  }
  if (o->model == 0 || o->num_inputs == 0 || o->output == 0) {
    return fail(EXIT_USAGE,
                "usage: freeml_run MODEL.tflite --input IN.bin "
                "[--input IN2.bin ...] --output OUT.bin [--arena-bytes N] "
                "[--print-memory] [--nvm PATH [--fail-after-writes N] "
                "[--max-tile-macs N] [--max-tile-bytes N] [--print-stats]]");
  }
  if (o->nvm == 0 && (o->fail_after_writes != 0 || o->max_tile_macs != 0 ||
                      o->max_tile_bytes != 0 || o->print_stats)) {
    return fail(EXIT_USAGE,
                "--fail-after-writes, --max-tile-macs, --max-tile-bytes and "
                "--print-stats need --nvm");
  }
  return 0;
}

/* Reads a whole file into a 16-byte aligned buffer (freed by the caller). */
static int read_file(const char *path, uint8_t **data, uint32_t *size) {
  FILE *f = fopen(path, "rb");
  long length;
  *data = 0;
  *size = 0;
  if (f == 0) return -1;
  if (fseek(f, 0, SEEK_END) != 0 || (length = ftell(f)) < 0 ||
      length > 0x7FFFFFF0L || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return -1;
  }
  *data = (uint8_t *)aligned_alloc(16, ((size_t)length + 16u) & ~(size_t)15u);
  if (*data == 0 ||
      (length > 0 && fread(*data, 1, (size_t)length, f) != (size_t)length)) {
    free(*data);
    *data = 0;
    fclose(f);
    return -1;
  }
  fclose(f);
  *size = (uint32_t)length;
  return 0;
}

/* Reads every --input file and checks it against the model's input size. */
static int read_inputs(const freeml_runtime *rt, const options *o,
                       uint8_t **inputs) {
  int i;
  char message[MESSAGE_SIZE];
  if ((uint32_t)o->num_inputs != freeml_runtime_num_inputs(rt)) {
    snprintf(message, sizeof(message), "the model has %u inputs, got %d",
             (unsigned)freeml_runtime_num_inputs(rt), o->num_inputs);
    return fail(EXIT_USAGE, message);
  }
  for (i = 0; i < o->num_inputs; ++i) {
    freeml_tensor_info tensor;
    uint32_t size;
    freeml_model_tensor(&rt->model, freeml_runtime_input(rt, (uint32_t)i),
                        &tensor, 0);
    if (read_file(o->inputs[i], &inputs[i], &size) != 0) {
      snprintf(message, sizeof(message), "cannot read input '%s': %s",
               o->inputs[i], strerror(errno));
      return fail(EXIT_USAGE, message);
    }
    if (size != tensor.bytes) {
      snprintf(message, sizeof(message),
               "input '%s' has %u bytes, the model's input %d takes %u",
               o->inputs[i], (unsigned)size, i, (unsigned)tensor.bytes);
      return fail(EXIT_USAGE, message);
    }
  }
  return 0;
}

static int write_outputs(const freeml_runtime *rt, const char *path) {
  FILE *f = fopen(path, "wb");
  uint32_t i;
  int ok = f != 0;
  char message[MESSAGE_SIZE];
  for (i = 0; ok && i < freeml_runtime_num_outputs(rt); ++i) {
    freeml_tensor_view view;
    freeml_runtime_tensor(rt, freeml_runtime_output(rt, i), &view);
    ok = fwrite(view.data, 1, view.bytes, f) == view.bytes;
  }
  if (f != 0 && fclose(f) != 0) ok = 0;
  if (!ok) {
    snprintf(message, sizeof(message), "cannot write output '%s'", path);
    return fail(EXIT_IO, message);
  }
  return 0;
}

static void print_memory(const freeml_runtime *rt) {
  printf("persistent_bytes=%u activation_bytes=%u scratch_bytes=%u "
         "total_bytes=%u nvm_bytes=%u\n",
         (unsigned)rt->memory.persistent_bytes,
         (unsigned)rt->memory.activation_bytes,
         (unsigned)rt->memory.scratch_bytes, (unsigned)rt->memory.total_bytes,
         (unsigned)rt->memory.nvm_bytes);
}

static int run_plain(const options *o, const uint8_t *model,
                     uint32_t model_size, uint8_t *arena, uint8_t **inputs) {
  freeml_runtime rt;
  freeml_error error;
  int status;
  int i;
  if (freeml_runtime_init(&rt, model, model_size, arena,
                          (uint32_t)o->arena_bytes, &error) != FREEML_OK) {
    return fail(EXIT_USAGE, error.message);
  }
  if ((status = read_inputs(&rt, o, inputs)) != 0) return status;
  for (i = 0; i < o->num_inputs; ++i) {
    freeml_tensor_view view;
    freeml_runtime_tensor(&rt, freeml_runtime_input(&rt, (uint32_t)i), &view);
    memcpy(view.data, inputs[i], view.bytes);
  }
  if (freeml_runtime_invoke(&rt, &error) != FREEML_OK) {
    return fail(EXIT_USAGE, error.message);
  }
  if ((status = write_outputs(&rt, o->output)) != 0) return status;
  if (o->print_memory) print_memory(&rt);
  return 0;
}

static int run_intermittent(const options *o, const uint8_t *model,
                            uint32_t model_size, uint8_t *arena,
                            uint8_t **inputs) {
  freeml_intermittent it;
  freeml_intermittent_config config;
  freeml_nvm_file nvm;
  freeml_error error;
  freeml_error notice;
  freeml_status run_status;
  char message[MESSAGE_SIZE];
  int status;
  config.model_hash = freeml_crc32(0, model, model_size);
  config.max_tile_macs = (uint32_t)o->max_tile_macs;
  config.max_tile_bytes = (uint32_t)o->max_tile_bytes;
  if (freeml_intermittent_init(&it, model, model_size, arena,
                               (uint32_t)o->arena_bytes, &config,
                               &error) != FREEML_OK) {
    return fail(EXIT_USAGE, error.message);
  }
  if ((status = read_inputs(&it.rt, o, inputs)) != 0) return status;
  if (freeml_nvm_file_open(&nvm, o->nvm, it.rt.memory.nvm_bytes,
                           o->fail_after_writes, notice.message,
                           sizeof(notice.message)) != 0) {
    snprintf(message, sizeof(message), "cannot map NVM file '%s': %s", o->nvm,
             strerror(errno));
    return fail(EXIT_IO, message);
  }
  if (notice.message[0] != '\0') {
    fprintf(stderr, "freeml_run: note: %s\n", notice.message);
  }
  run_status = freeml_intermittent_run(&it, &nvm.memory.port,
                                       (const void *const *)inputs, &notice,
                                       &error);
  if (notice.message[0] != '\0') {
    fprintf(stderr, "freeml_run: note: %s\n", notice.message);
  }
  if (o->print_stats) {
    printf("tiles=%u macs=%llu commits=%u nvm_writes=%u nvm_bytes_written=%llu "
           "run_id=%u\n",
           (unsigned)it.stats.tiles, (unsigned long long)it.stats.macs,
           (unsigned)it.stats.commits, (unsigned)it.stats.nvm_writes,
           (unsigned long long)it.stats.nvm_bytes_written,
           (unsigned)it.committed.run_id);
  }
  if (run_status == FREEML_INTERRUPTED) {
    snprintf(message, sizeof(message),
             "%s (simulated); run again to resume", error.message);
    status = fail(EXIT_POWER_FAILURE, message);
  } else if (run_status != FREEML_OK) {
    status = fail(EXIT_USAGE, error.message);
  } else {
    status = write_outputs(&it.rt, o->output);
    if (status == 0 && o->print_memory) print_memory(&it.rt);
  }
  freeml_nvm_file_close(&nvm);
  return status;
}

int main(int argc, char **argv) {
  options o;
  uint8_t *model = 0;
  uint8_t *arena = 0;
  uint8_t *inputs[FREEML_MAX_IO] = {0};
  uint32_t model_size = 0;
  int i;
  int status = parse_args(argc, argv, &o);
  if (status != 0) return status;
  if (read_file(o.model, &model, &model_size) != 0) {
    char message[MESSAGE_SIZE];
    snprintf(message, sizeof(message), "cannot read model '%s': %s", o.model,
             strerror(errno));
    return fail(EXIT_USAGE, message);
  }
  arena = (uint8_t *)malloc(o.arena_bytes);
  if (arena == 0) {
    status = fail(EXIT_IO, "cannot allocate the arena");
  } else if (o.nvm != 0) {
    status = run_intermittent(&o, model, model_size, arena, inputs);
  } else {
    status = run_plain(&o, model, model_size, arena, inputs);
  }
  for (i = 0; i < FREEML_MAX_IO; ++i) free(inputs[i]);
  free(arena);
  free(model);
  return status;
}
