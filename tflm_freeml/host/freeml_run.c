/*
 * freeml_run: runs a .tflite model with the FreeML runtime on the host.
 *
 *   freeml_run MODEL.tflite --input IN.bin [--input IN2.bin ...]
 *              --output OUT.bin [--arena-bytes N] [--print-memory]
 *
 * Inputs and outputs are the raw bytes of the graph's input and output
 * tensors in C order; several outputs are written one after the other.
 * Exit status: 0 success, 1 an I/O error, 2 bad usage or a bad model, each
 * with a one-line reason on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tflm_freeml/runtime.h"

#define EXIT_IO 1
#define EXIT_USAGE 2
#define DEFAULT_ARENA_BYTES (64u << 20)

typedef struct {
  const char *model;
  const char *inputs[FREEML_MAX_IO];
  int num_inputs;
  const char *output;
  unsigned long arena_bytes;
  int print_memory;
} options;

static int fail(int status, const char *format, const char *detail) {
  fprintf(stderr, "freeml_run: ");
  fprintf(stderr, format, detail);
  fprintf(stderr, "\n");
  return status;
}

static int parse_args(int argc, char **argv, options *o) {
  int i;
  memset(o, 0, sizeof(*o));
  o->arena_bytes = DEFAULT_ARENA_BYTES;
  for (i = 1; i < argc; ++i) {
    const char *arg = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : 0;
    if (strcmp(arg, "--input") == 0 && value != 0) {
      if (o->num_inputs == FREEML_MAX_IO) {
        return fail(EXIT_USAGE, "too many --input files%s", "");
      }
      o->inputs[o->num_inputs++] = value;
      ++i;
    } else if (strcmp(arg, "--output") == 0 && value != 0) {
      o->output = value;
      ++i;
    } else if (strcmp(arg, "--arena-bytes") == 0 && value != 0) {
      char *end = 0;
      o->arena_bytes = strtoul(value, &end, 10);
      if (*end != '\0' || o->arena_bytes == 0 ||
          o->arena_bytes > 0xFFFFFFF0ul) {
        return fail(EXIT_USAGE, "bad --arena-bytes value '%s'", value);
      }
      ++i;
    } else if (strcmp(arg, "--print-memory") == 0) {
      o->print_memory = 1;
    } else if (arg[0] == '-' && arg[1] == '-') {
      return fail(EXIT_USAGE, "unknown or incomplete option '%s'", arg);
    } else if (o->model == 0) {
      o->model = arg;
    } else {
      return fail(EXIT_USAGE, "unexpected argument '%s'", arg);
    }
  }
  if (o->model == 0 || o->num_inputs == 0 || o->output == 0) {
    return fail(EXIT_USAGE,
                "usage: freeml_run MODEL.tflite --input IN.bin "
                "[--input IN2.bin ...] --output OUT.bin [--arena-bytes N] "
                "[--print-memory]%s",
                "");
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

static int load_inputs(freeml_runtime *rt, const options *o) {
  int i;
  char message[160];
  if ((uint32_t)o->num_inputs != freeml_runtime_num_inputs(rt)) {
    snprintf(message, sizeof(message), "the model has %u inputs, got %d",
             (unsigned)freeml_runtime_num_inputs(rt), o->num_inputs);
    return fail(EXIT_USAGE, "%s", message);
  }
  for (i = 0; i < o->num_inputs; ++i) {
    freeml_tensor_view view;
    uint8_t *data;
    uint32_t size;
    freeml_runtime_tensor(rt, freeml_runtime_input(rt, (uint32_t)i), &view);
    if (read_file(o->inputs[i], &data, &size) != 0) {
      snprintf(message, sizeof(message), "cannot read input '%s': %s",
               o->inputs[i], strerror(errno));
      return fail(EXIT_USAGE, "%s", message);
    }
    if (size != view.bytes) {
      snprintf(message, sizeof(message),
               "input '%s' has %u bytes, the model's input %d takes %u",
               o->inputs[i], (unsigned)size, i, (unsigned)view.bytes);
      free(data);
      return fail(EXIT_USAGE, "%s", message);
    }
    memcpy(view.data, data, size);
    free(data);
  }
  return 0;
}

static int write_outputs(const freeml_runtime *rt, const char *path) {
  FILE *f = fopen(path, "wb");
  uint32_t i;
  int ok = f != 0;
  for (i = 0; ok && i < freeml_runtime_num_outputs(rt); ++i) {
    freeml_tensor_view view;
    freeml_runtime_tensor(rt, freeml_runtime_output(rt, i), &view);
    ok = fwrite(view.data, 1, view.bytes, f) == view.bytes;
  }
  if (f != 0 && fclose(f) != 0) ok = 0;
  if (!ok) return fail(EXIT_IO, "cannot write output '%s'", path);
  return 0;
}

int main(int argc, char **argv) {
  options o;
  uint8_t *model = 0;
  uint8_t *arena = 0;
  uint32_t model_size = 0;
  freeml_runtime rt;
  freeml_error error;
  int status = parse_args(argc, argv, &o);
  if (status != 0) return status;
  if (read_file(o.model, &model, &model_size) != 0) {
    char message[160];
    snprintf(message, sizeof(message), "cannot read model '%s': %s", o.model,
             strerror(errno));
    return fail(EXIT_USAGE, "%s", message);
  }
  arena = (uint8_t *)malloc(o.arena_bytes);
  if (arena == 0) {
    free(model);
    return fail(EXIT_IO, "cannot allocate an arena of %s bytes", "the given");
  }
  if (freeml_runtime_init(&rt, model, model_size, arena,
                          (uint32_t)o.arena_bytes, &error) != FREEML_OK) {
    status = fail(EXIT_USAGE, "%s", error.message);
  } else if ((status = load_inputs(&rt, &o)) == 0) {
    if (freeml_runtime_invoke(&rt, &error) != FREEML_OK) {
      status = fail(EXIT_USAGE, "%s", error.message);
    } else {
      status = write_outputs(&rt, o.output);
      if (status == 0 && o.print_memory) {
        printf("persistent_bytes=%u activation_bytes=%u total_bytes=%u\n",
               (unsigned)rt.memory.persistent_bytes,
               (unsigned)rt.memory.activation_bytes,
               (unsigned)rt.memory.total_bytes);
      }
    }
  }
  free(arena);
  free(model);
  return status;
}
