/*
 * freeml_run: runs a .tflite model with the FreeML runtime on the host.
 *
 *   freeml_run MODEL.tflite --input IN.bin [--input IN2.bin ...]
 *              --output OUT.bin [--arena-bytes N] [--print-memory]
 *              [--nvm PATH [--fail-after-writes N] [--max-tile-macs N]
 *               [--max-tile-bytes N] [--print-stats]]
 *              [--energy-budget N | --energy-schedule W:E,W:E,...]
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
 * A model with gNet exits (docs/gnet.md) always runs tile by tile (in
 * process memory without --nvm) and may answer early: when the latest
 * exit's confidence meets its threshold, or when the energy left cannot
 * reach the next exit. Energy is counted in MACs of work: --energy-budget N
 * gives the inference N, --energy-schedule W:E,... says that E is available
 * once the run has done W (the first W must be 0). It prints `exit=K` on
 * stdout (K = the number of exits: the whole network) and writes exit K's
 * int8 logits as the output of an early answer.
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
#include "tflm_freeml/host/nvm_memory.h"
#include "tflm_freeml/intermittent.h"
#include "tflm_freeml/runtime.h"

#define EXIT_IO 1
#define EXIT_USAGE 2
#define EXIT_POWER_FAILURE 75 /* EX_TEMPFAIL: try again */
#define DEFAULT_ARENA_BYTES (64u << 20)
#define MESSAGE_SIZE 400
#define MAX_SCHEDULE_STEPS 64

/* The host's energy port: a budget, or a schedule of (work, energy) steps. */
typedef struct {
  int steps;                       /* 0: a budget */
  uint64_t budget;
  uint64_t work[MAX_SCHEDULE_STEPS];
  uint64_t energy[MAX_SCHEDULE_STEPS];
} host_energy;

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
  int has_energy;
  host_energy energy;
} options;

static uint64_t energy_available(void *context, uint64_t work_done) {
  const host_energy *e = (const host_energy *)context;
  int i = 0;
  if (e->steps == 0) return work_done < e->budget ? e->budget - work_done : 0;
  while (i + 1 < e->steps && e->work[i + 1] <= work_done) ++i;
  return e->energy[i];
}

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

/* Parses an unsigned 64-bit number that fills `text` up to `stop`. */
static int parse_u64(const char *text, char stop, uint64_t *out,
                     const char **end) {
  char *after = 0;
  errno = 0;
  if (text[0] < '0' || text[0] > '9') return -1;
  *out = strtoull(text, &after, 10);
  if (errno != 0 || (*after != stop && !(stop == ',' && *after == '\0'))) {
    return -1;
  }
  *end = after;
  return 0;
}

static int parse_energy(const char *flag, const char *value, options *o) {
  char message[MESSAGE_SIZE];
  const char *p = value;
  host_energy *e = &o->energy;
  if (o->has_energy) {
    return fail(EXIT_USAGE, "give one of --energy-budget and --energy-schedule");
  }
  o->has_energy = 1;
  memset(e, 0, sizeof(*e));
  if (strcmp(flag, "--energy-budget") == 0) {
    if (parse_u64(value, ',', &e->budget, &p) == 0 && *p == '\0') return 0;
  } else {
    while (e->steps < MAX_SCHEDULE_STEPS &&
           parse_u64(p, ':', &e->work[e->steps], &p) == 0 &&
           parse_u64(p + 1, ',', &e->energy[e->steps], &p) == 0 &&
           (e->steps == 0 ? e->work[0] == 0
                          : e->work[e->steps] > e->work[e->steps - 1])) {
      ++e->steps;
      if (*p == '\0') return 0;
      ++p;
    }
  }
  snprintf(message, sizeof(message),
           "bad %s value '%s' (a budget is N; a schedule is W:E,W:E,... "
           "with W rising from 0, at most %d steps)",
           flag, value, MAX_SCHEDULE_STEPS);
  return fail(EXIT_USAGE, message);
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
    } else if (strcmp(arg, "--energy-budget") == 0 ||
               strcmp(arg, "--energy-schedule") == 0) {
      status = parse_energy(arg, value, o);
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
                "[--max-tile-macs N] [--max-tile-bytes N] [--print-stats]] "
                "[--energy-budget N | --energy-schedule W:E,...]");
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

/* The graph's outputs, or with exit < rt->exits.count that exit's logits. */
static int write_outputs(const freeml_runtime *rt, uint32_t exit,
                         const char *path) {
  FILE *f = fopen(path, "wb");
  uint32_t i;
  int ok = f != 0;
  char message[MESSAGE_SIZE];
  if (ok && exit < rt->exits.count) {
    const uint32_t classes = (uint32_t)rt->exits.classes;
    int8_t *logits = (int8_t *)malloc(classes);
    ok = logits != 0 && freeml_exit_logits(rt, exit, logits) == FREEML_OK &&
         fwrite(logits, 1, classes, f) == classes;
    free(logits);
  }
  for (i = 0; ok && exit >= rt->exits.count &&
              i < freeml_runtime_num_outputs(rt);
       ++i) {
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
         "total_bytes=%u nvm_bytes=%u snapshot_bytes=%u\n",
         (unsigned)rt->memory.persistent_bytes,
         (unsigned)rt->memory.activation_bytes,
         (unsigned)rt->memory.scratch_bytes, (unsigned)rt->memory.total_bytes,
         (unsigned)rt->memory.nvm_bytes, (unsigned)rt->memory.snapshot_bytes);
}

static int run_intermittent(const options *o, const uint8_t *model,
                            uint32_t model_size, uint8_t *arena,
                            uint8_t **inputs);

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
  if (rt.exits.count > 0 || o->has_energy) { /* exits are taken by tile */
    return run_intermittent(o, model, model_size, arena, inputs);
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
  status = write_outputs(&rt, rt.exits.count, o->output);
  if (status != 0) return status;
  if (o->print_memory) print_memory(&rt);
  return 0;
}

/* The NVM of a run: the --nvm file, or process memory without it. */
typedef struct {
  freeml_nvm_file file;
  freeml_nvm_memory memory;
  uint8_t *data;
  const freeml_nvm_port *port;
} host_nvm;

static int open_nvm(const options *o, uint32_t bytes, host_nvm *nvm) {
  char message[MESSAGE_SIZE];
  char notice[MESSAGE_SIZE];
  memset(nvm, 0, sizeof(*nvm));
  if (o->nvm == 0) {
    nvm->data = (uint8_t *)aligned_alloc(16, (bytes + 15u) & ~15u);
    if (nvm->data == 0) return fail(EXIT_IO, "cannot allocate the NVM");
    memset(nvm->data, 0, bytes);
    freeml_nvm_memory_init(&nvm->memory, nvm->data, bytes, 0);
    nvm->port = &nvm->memory.port;
    return 0;
  }
  notice[0] = '\0';
  if (freeml_nvm_file_open(&nvm->file, o->nvm, bytes, o->fail_after_writes,
                           notice, sizeof(notice)) != 0) {
    snprintf(message, sizeof(message), "cannot map NVM file '%s': %s", o->nvm,
             strerror(errno));
    return fail(EXIT_IO, message);
  }
  if (notice[0] != '\0') fprintf(stderr, "freeml_run: note: %s\n", notice);
  nvm->port = &nvm->file.memory.port;
  return 0;
}

static void close_nvm(const options *o, host_nvm *nvm) {
  if (o->nvm != 0) freeml_nvm_file_close(&nvm->file);
  free(nvm->data);
}

static int run_intermittent(const options *o, const uint8_t *model,
                            uint32_t model_size, uint8_t *arena,
                            uint8_t **inputs) {
  freeml_intermittent it;
  freeml_intermittent_config config;
  freeml_energy_port energy;
  host_nvm nvm;
  freeml_error error;
  freeml_error notice;
  freeml_status run_status;
  char message[MESSAGE_SIZE];
  int status;
  config.model_hash = freeml_crc32(0, model, model_size);
  config.max_tile_macs = (uint32_t)o->max_tile_macs;
  config.max_tile_bytes = (uint32_t)o->max_tile_bytes;
  /* One boot per process: no snapshot constant known ahead, the tables are
   * prepared (their NVM snapshot region stays reserved, unused). */
  config.snapshot_crc = 0;
  if (freeml_intermittent_init(&it, model, model_size, arena,
                               (uint32_t)o->arena_bytes, &config,
                               &error) != FREEML_OK) {
    return fail(EXIT_USAGE, error.message);
  }
  if (o->has_energy && it.rt.exits.count == 0) {
    return fail(EXIT_USAGE,
                "--energy-budget and --energy-schedule need a model with gNet "
                "exits (python -m converter --exits ...)");
  }
  if ((status = read_inputs(&it.rt, o, inputs)) != 0) return status;
  if ((status = open_nvm(o, it.rt.memory.nvm_bytes, &nvm)) != 0) {
    return status;
  }
  energy.available = o->has_energy ? energy_available : 0;
  energy.context = (void *)(uintptr_t)&o->energy;
  run_status = freeml_intermittent_run_adaptive(
      &it, nvm.port, (const void *const *)inputs, &energy, 0, &notice, &error);
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
    const uint32_t exit = freeml_intermittent_exit(&it);
    status = write_outputs(&it.rt, exit, o->output);
    if (status == 0 && it.rt.exits.count > 0) printf("exit=%u\n", exit);
    if (status == 0 && o->print_memory) print_memory(&it.rt);
  }
  close_nvm(o, &nvm);
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
