/*
 * freeml_fw: the FreeML runtime as Cortex-M4 firmware, with the model of
 * firmware/model/model_data.c in flash.
 *
 * Semihosting command line (raw tensor bytes, as freeml_run reads and
 * writes them; several inputs or outputs one after the other):
 *
 *   freeml_fw INPUT.bin OUTPUT.bin [--failures N] [--seed S]
 *             [--max-interval I]
 *
 * --failures N resets the board N times, each a pseudo-random number of
 * instructions in [1, I] (seed S, default 1) after the runtime is
 * initialised; I defaults to twice an estimate of the inference's
 * instructions (8 per MAC) divided by N + 1, so that the failures spread
 * over the inference. Each boot resumes the inference from NVM; the output
 * is written once it completes.
 *
 * Log lines on the semihosting console, "freeml_fw: " then key=value pairs,
 * each written whole (a power failure cuts the log between lines only):
 *   boot ...       every boot: mode, kernel variant, boot number, model CRC;
 *   notice: ...    NVM was damaged or stale, and what the runtime did;
 *   resume ...     where the run stands after recovery: state, op, tile,
 *                  run, and snapshot=1 when the prepared tables came from
 *                  their NVM snapshot;
 *   op ...         per op run whole within this boot: instructions, MACs;
 *   done ...       totals (the log's own instructions left out, except in
 *                  total_instructions), memory, the stack high-water mark;
 *   error: ...     why the firmware stops with a non-zero status.
 * Exit status (board.h): 0 output written, 1 the model image is corrupted
 * or refused, 2 bad command line, 3 file I/O failed, 4 CPU fault.
 *
 * Built with FREEML_FW_PLAIN, the firmware runs the plain runtime instead
 * (everything in SRAM, no NVM, no failures): the baseline of the benchmark.
 */
#include <stdint.h>
#include <string.h>

#include "firmware/board/board.h"
#include "firmware/board/semihosting.h"
#include "firmware/board/systick_clock.h"
#include "firmware/model_check.h"
#include "firmware/model/model_data.h"
#include "firmware/nvm_ram_port.h"
#include "firmware/power_failure.h"
#include "tflm_freeml/crc32.h"
#include "tflm_freeml/intermittent.h"
#include "tflm_freeml/runtime.h"

#if !defined(FREEML_MODEL_NVM_BYTES) || !defined(FREEML_MODEL_SNAPSHOT_CRC32)
#error "model_data.h has no sizes: regenerate it with python -m converter"
#endif

/* The kernel variant freeml_conv2d_s8 and friends use in this build. */
#if FREEML_DSP_KERNELS
#define KERNELS_VARIANT "dsp"
#else
#define KERNELS_VARIANT "portable"
#endif

#define COMMAND_LINE_BYTES 512
#define MAX_ARGS 12
/* Instructions per MAC the default failure interval assumes (ops with few
 * MACs per output cost more, large convolutions less): --max-interval
 * overrides it with a measured figure. */
#define ASSUMED_INSTRUCTIONS_PER_MAC 8u

typedef struct {
  const char *input_path;
  const char *output_path;
  uint32_t failures;
  uint32_t seed;
  uint32_t max_interval; /* 0: from the model's MACs */
} options;

static uint8_t input_bytes[FREEML_MODEL_INPUT_BYTES]
    __attribute__((aligned(16)));

#ifdef FREEML_FW_PLAIN
static uint8_t arena[FREEML_MODEL_ARENA_BYTES] __attribute__((aligned(16)));
#else
static uint8_t arena[FREEML_MODEL_INTERMITTENT_SRAM_BYTES]
    __attribute__((aligned(16)));
/* NVM: the runtime's region first, at a fixed address (the start of SRAM). */
static uint8_t nvm_region[FREEML_MODEL_NVM_BYTES]
    __attribute__((section(".nvm.0_runtime"), aligned(16)));
static power_failure_record failure_record
    __attribute__((section(".nvm.1_power_failure")));
static model_check_record model_check
    __attribute__((section(".nvm.2_model_check")));
#endif

/* ---- Log output ---- */

/* A line is built in SRAM and written with one semihosting call: a power
 * failure can cut the log between lines, never inside one. The ticks spent
 * building and writing lines are kept apart, so that the instruction counts
 * of an inference leave out its own log. */
static struct {
  char text[256];
  uint32_t length;
  uint64_t started;  /* ticks when the line's first put began */
  uint64_t ticks;    /* ticks spent on finished lines */
} log_line;

static void put(const char *text) {
  if (log_line.length == 0) log_line.started = systick_clock_ticks();
  while (*text != '\0' && log_line.length + 2u < sizeof(log_line.text)) {
    log_line.text[log_line.length++] = *text++;
  }
}

static void put_u64(uint64_t value) {
  char digits[24];
  int i = (int)sizeof(digits) - 1;
  digits[i] = '\0';
  do {
    digits[--i] = (char)('0' + value % 10u);
    value /= 10u;
  } while (value != 0);
  put(&digits[i]);
}

static void put_pair(const char *key, uint64_t value) {
  put(" ");
  put(key);
  put("=");
  put_u64(value);
}

static void end_line(void) {
  log_line.text[log_line.length++] = '\n';
  log_line.text[log_line.length] = '\0';
  semihosting_write_console(log_line.text);
  log_line.length = 0;
  log_line.ticks += systick_clock_ticks() - log_line.started;
}

static int fail(uint32_t status, const char *what, const char *detail) {
  put("freeml_fw: error: ");
  put(what);
  if (detail != 0 && detail[0] != '\0') {
    put(": ");
    put(detail);
  }
  end_line();
  return (int)status;
}

/* Ticks since boot, leaving out the log. */
static uint64_t work_ticks(void) {
  return systick_clock_ticks() - log_line.ticks;
}

/* ---- Command line ---- */

/* Decimal digits only, at most 2^32 - 1; 0 on success. */
static int parse_u32(const char *text, uint32_t *value) {
  uint64_t parsed = 0;
  if (text == 0 || *text == '\0') return 1;
  for (; *text != '\0'; ++text) {
    if (*text < '0' || *text > '9') return 1;
    parsed = parsed * 10u + (uint64_t)(*text - '0');
    if (parsed > 0xFFFFFFFFu) return 1;
  }
  *value = (uint32_t)parsed;
  return 0;
}

/* Splits the command line at spaces, in place (paths cannot hold one).
 * newlib's strtok would allocate its state on the heap. */
static int split_words(char *line, char *words[], int max_words) {
  int count = 0;
  while (*line != '\0') {
    while (*line == ' ') *line++ = '\0';
    if (*line == '\0') break;
    if (count == max_words) return -1;
    words[count++] = line;
    while (*line != '\0' && *line != ' ') ++line;
  }
  return count;
}

static int parse_options(char *line, options *opt) {
  char *args[MAX_ARGS];
  const int count = split_words(line, args, MAX_ARGS);
  int i;
  if (count < 3) return 1;
  opt->input_path = args[1];
  opt->output_path = args[2];
  opt->failures = 0;
  opt->seed = 1;
  opt->max_interval = 0;
  for (i = 3; i < count; i += 2) {
    uint32_t *target = 0;
    if (strcmp(args[i], "--failures") == 0) target = &opt->failures;
    if (strcmp(args[i], "--seed") == 0) target = &opt->seed;
    if (strcmp(args[i], "--max-interval") == 0) target = &opt->max_interval;
    if (target == 0 || i + 1 >= count || parse_u32(args[i + 1], target)) {
      return 1;
    }
  }
#ifdef FREEML_FW_PLAIN
  if (opt->failures != 0) return 1;
#endif
  return 0;
}

/* ---- Files ---- */

static int read_input(const char *path) {
  const int32_t handle = semihosting_open(path, SEMIHOSTING_MODE_READ_BINARY);
  int32_t length;
  int ok;
  if (handle < 0) return fail(BOARD_EXIT_IO, "cannot open input", path);
  length = semihosting_file_length(handle);
  ok = length == (int32_t)sizeof(input_bytes) &&
       semihosting_read(handle, input_bytes, sizeof(input_bytes)) == 0;
  semihosting_close(handle);
  if (!ok) {
    return fail(BOARD_EXIT_IO,
                "input must hold exactly the model's input bytes", path);
  }
  return 0;
}

static int write_output(const freeml_runtime *rt, const char *path) {
  const int32_t handle = semihosting_open(path, SEMIHOSTING_MODE_WRITE_BINARY);
  uint32_t i;
  int ok = handle >= 0;
  for (i = 0; ok && i < freeml_runtime_num_outputs(rt); ++i) {
    freeml_tensor_view view;
    ok = freeml_runtime_tensor(rt, freeml_runtime_output(rt, i), &view) ==
             FREEML_OK &&
         semihosting_write(handle, view.data, view.bytes) == 0;
  }
  if (handle >= 0) semihosting_close(handle);
  return ok ? 0 : fail(BOARD_EXIT_IO, "cannot write output", path);
}

/* Graph inputs, one after the other in input_bytes. */
static int input_pointers(const freeml_runtime *rt,
                          const void *pointers[FREEML_MAX_IO]) {
  uint32_t i, offset = 0;
  for (i = 0; i < freeml_runtime_num_inputs(rt); ++i) {
    freeml_tensor_view view;
    if (freeml_runtime_tensor(rt, freeml_runtime_input(rt, i), &view) !=
            FREEML_OK ||
        offset + view.bytes > sizeof(input_bytes)) {
      return fail(BOARD_EXIT_MODEL, "model inputs do not match model_data.h",
                  0);
    }
    pointers[i] = input_bytes + offset;
    offset += view.bytes;
  }
  return 0;
}

static uint64_t model_macs(const freeml_runtime *rt) {
  uint64_t macs = 0;
  uint32_t i;
  for (i = 0; i < rt->num_ops; ++i) {
    macs += (uint64_t)rt->ops[i].units * rt->ops[i].unit_macs;
  }
  return macs;
}

static void put_op(const freeml_runtime *rt, uint32_t index, uint64_t ticks,
                   uint32_t tiles) {
  put("freeml_fw: op");
  put_pair("index", index);
  put_pair("instructions", systick_ticks_to_instructions(ticks));
  put_pair("macs", (uint64_t)rt->ops[index].units * rt->ops[index].unit_macs);
  put_pair("tiles", tiles);
  end_line();
}

static int model_corrupted(void) {
  return fail(BOARD_EXIT_MODEL, "model image is corrupted",
              "its CRC-32 differs from model_data.h");
}

static int check_model(void) {
  if (freeml_model_data_len != FREEML_MODEL_BYTES ||
      freeml_crc32(0, freeml_model_data, freeml_model_data_len) !=
          FREEML_MODEL_CRC32) {
    return model_corrupted();
  }
  return 0;
}

#ifdef FREEML_FW_PLAIN

static int run(const options *opt) {
  static freeml_runtime rt;
  freeml_error error;
  const void *inputs[FREEML_MAX_IO];
  uint64_t boot_ticks, op_ticks;
  uint32_t i;
  int status;
  systick_clock_start();
  put("freeml_fw: boot mode=plain kernels=" KERNELS_VARIANT);
  put_pair("boot", 1);
  put_pair("model_crc32", FREEML_MODEL_CRC32);
  end_line();
  if ((status = check_model()) != 0) return status;
  if (freeml_runtime_init(&rt, freeml_model_data, freeml_model_data_len, arena,
                          sizeof(arena), &error) != FREEML_OK) {
    return fail(BOARD_EXIT_MODEL, "model refused", error.message);
  }
  boot_ticks = work_ticks();
  if ((status = input_pointers(&rt, inputs)) != 0) return status;
  if ((status = read_input(opt->input_path)) != 0) return status;
  for (i = 0; i < freeml_runtime_num_inputs(&rt); ++i) {
    freeml_tensor_view view;
    freeml_runtime_tensor(&rt, freeml_runtime_input(&rt, i), &view);
    memcpy(view.data, inputs[i], view.bytes);
  }
  for (i = 0; i < rt.num_ops; ++i) {
    freeml_tile whole;
    whole.start = 0;
    whole.end = freeml_runtime_op_units(&rt, i);
    op_ticks = systick_clock_ticks();
    if (freeml_runtime_run_op(&rt, i, whole, &error) != FREEML_OK) {
      return fail(BOARD_EXIT_MODEL, "op failed", error.message);
    }
    put_op(&rt, i, systick_clock_ticks() - op_ticks, 1);
  }
  if ((status = write_output(&rt, opt->output_path)) != 0) return status;
  put("freeml_fw: done mode=plain");
  put_pair("boots", 1);
  put_pair("failures", 0);
  put_pair("boot_instructions", systick_ticks_to_instructions(boot_ticks));
  put_pair("instructions", systick_ticks_to_instructions(work_ticks()));
  put_pair("macs", model_macs(&rt));
  put_pair("sram_bytes", rt.memory.total_bytes);
  put_pair("stack_bytes", board_stack_used());
  end_line();
  return 0;
}

#else

static int run(const options *opt) {
  static freeml_intermittent it;
  freeml_intermittent_config config;
  freeml_nvm_port port = nvm_ram_port(nvm_region, sizeof(nvm_region));
  freeml_error error, notice;
  const void *inputs[FREEML_MAX_IO];
  uint64_t boot_ticks, check_ticks, op_ticks;
  uint32_t max_interval = opt->max_interval, op_tiles = 0;
  int op_whole, status;

  if (max_interval == 0 && opt->failures != 0) {
    max_interval = (uint32_t)((uint64_t)FREEML_MODEL_MACS *
                              ASSUMED_INSTRUCTIONS_PER_MAC * 2u /
                              (opt->failures + 1u));
    if (max_interval == 0) max_interval = 1;
  }
  systick_clock_start();
  power_failure_boot(&failure_record, opt->failures, opt->seed, max_interval);
  put("freeml_fw: boot mode=intermittent kernels=" KERNELS_VARIANT);
  put_pair("boot", failure_record.failures_done + 1u);
  put_pair("model_crc32", FREEML_MODEL_CRC32);
  end_line();
  if (freeml_model_data_len != FREEML_MODEL_BYTES) return model_corrupted();
  /* The image's CRC is checked once per run, below: init only reads it
   * (bounds-checked, as any hostile .tflite), and a refusal may be the
   * image's damage. */
  config.model_hash = FREEML_MODEL_CRC32;
  config.max_tile_macs = FREEML_MODEL_MAX_TILE_MACS;
  config.max_tile_bytes = FREEML_MODEL_MAX_TILE_BYTES;
  /* The prepared tables come back from their NVM snapshot when it is the
   * one the converter computed for this model and these budgets. */
  config.snapshot_crc = FREEML_MODEL_SNAPSHOT_CRC32;
  if (freeml_intermittent_boot(&it, freeml_model_data, freeml_model_data_len,
                               arena, sizeof(arena), &config, &port,
                               &error) != FREEML_OK) {
    if ((status = check_model()) != 0) return status;
    return fail(BOARD_EXIT_MODEL, "model refused", error.message);
  }
  power_failure_arm(&failure_record);
  if ((status = input_pointers(&it.rt, inputs)) != 0) return status;
  if ((status = read_input(opt->input_path)) != 0) return status;
  if (freeml_intermittent_start(&it, &port, inputs, &notice, &error) !=
      FREEML_OK) {
    if ((status = check_model()) != 0) return status;
    return fail(BOARD_EXIT_MODEL, "cannot start", error.message);
  }
  boot_ticks = work_ticks();
  /* Before any op reads the model: once per run, resumable. */
  if (model_check_run(&model_check, freeml_model_data, freeml_model_data_len,
                      FREEML_MODEL_CRC32, it.committed.run_id,
                      it.committed.input_hash) != 0) {
    return model_corrupted();
  }
  check_ticks = work_ticks() - boot_ticks;
  if (notice.message[0] != '\0') {
    put("freeml_fw: notice: ");
    put(notice.message);
    end_line();
  }
  put("freeml_fw: resume");
  put_pair("state", it.committed.state);
  put_pair("op", it.committed.op);
  put_pair("tile", it.committed.tile);
  put_pair("run_id", it.committed.run_id);
  put_pair("snapshot", (uint64_t)it.restored);
  end_line();
  op_whole = it.committed.tile == 0;
  op_ticks = systick_clock_ticks();
  while (it.committed.state == FREEML_RUN_RUNNING) {
    const uint32_t op = it.committed.op;
    if (freeml_intermittent_step(&it, &error) != FREEML_OK) {
      return fail(BOARD_EXIT_MODEL, "op failed", error.message);
    }
    ++op_tiles;
    if (it.committed.op != op || it.committed.state != FREEML_RUN_RUNNING) {
      /* Only an op run whole in this boot has a meaningful count. */
      if (op_whole) put_op(&it.rt, op, systick_clock_ticks() - op_ticks, op_tiles);
      op_whole = 1;
      op_tiles = 0;
      op_ticks = systick_clock_ticks();
    }
  }
  if ((status = write_output(&it.rt, opt->output_path)) != 0) return status;
  put("freeml_fw: done mode=intermittent");
  put_pair("boots", failure_record.failures_done + 1u);
  put_pair("failures", failure_record.failures_done);
  put_pair("boot_instructions", systick_ticks_to_instructions(boot_ticks));
  put_pair("model_check_instructions",
           systick_ticks_to_instructions(check_ticks));
  put_pair("instructions", systick_ticks_to_instructions(work_ticks()));
  put_pair("total_instructions",
           failure_record.instructions_before +
               systick_ticks_to_instructions(systick_clock_ticks()));
  put_pair("macs", model_macs(&it.rt));
  put_pair("sram_bytes", it.rt.memory.total_bytes);
  put_pair("nvm_bytes", it.rt.memory.nvm_bytes);
  put_pair("stack_bytes", board_stack_used());
  end_line();
  return 0;
}

#endif

int main(void) {
  static char line[COMMAND_LINE_BYTES];
  options opt;
  if (semihosting_command_line(line, sizeof(line)) != 0 ||
      parse_options(line, &opt) != 0) {
    return fail(BOARD_EXIT_USAGE, "usage",
                "freeml_fw INPUT.bin OUTPUT.bin [--failures N] [--seed S] "
                "[--max-interval I]");
  }
  return run(&opt);
}
