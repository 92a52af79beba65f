/*
 * Intermittent execution: an inference that survives a power failure at any
 * instruction and finishes with the bytes of an uninterrupted run.
 *
 * Memory classes:
 *   model  read-only (flash or FRAM), read in place;
 *   NVM    [control block | snapshot of the prepared tables | activations
 *          | checksums], through a freeml_nvm_port;
 *   SRAM   the arena: op table, parameters, tensor plans, and the scratch of
 *          the current tile. Lost at every power failure; at boot restored
 *          from the snapshot (freeml_intermittent_boot) or prepared again.
 *
 * Every op runs tile by tile (the tile plan: units per tile from the MAC and
 * byte budgets). A tile computes into SRAM scratch, writes its output bytes
 * to NVM, then commits (op, next tile) to the control block. An op never
 * writes memory that one of its inputs occupies (the planner's lifetimes are
 * inclusive), so re-running a tile after a failure, committed or not, writes
 * the same bytes: at most one tile of work is lost per failure.
 *
 * Control block (docs/intermittent.md has the byte layout): two slots, each a
 * freeml_control_slot with a CRC; commit n goes to slot n % 2, so a commit
 * torn by a power failure leaves the previous one intact. After the slot, a
 * commit marker records n: a slot that fails its check while the marker
 * names it was damaged after it was written, and the run restarts rather
 * than resume from an older commit whose inputs may be overwritten.
 *
 * Activations are checked too, so that NVM damaged by more than a power
 * failure never yields a wrong answer: the slot carries the CRC of the
 * current op's committed output, and a table holds the CRC of every finished
 * tensor. A boot that would resume first checks every tensor still to be
 * read; a mismatch starts a new run. CRC-32 catches any damage confined to
 * 32 consecutive bits.
 *
 * Typical use (each boot):
 *   freeml_intermittent_boot(&it, model, size, arena, arena_size, &config,
 *                            &port, &error);   // or _init: no snapshot
 *   // NVM region of it.rt.memory.nvm_bytes, behind `port`
 *   status = freeml_intermittent_run(&it, &port, inputs, &notice, &error);
 *   // FREEML_OK: outputs are in NVM, see freeml_runtime_tensor(&it.rt, ...)
 *   // FREEML_INTERRUPTED: power failed; boot again and call run again.
 */
#ifndef FREEML_INTERMITTENT_H_
#define FREEML_INTERMITTENT_H_

#include <stdint.h>

#include "tflm_freeml/errors.h"
#include "tflm_freeml/nvm_port.h"
#include "tflm_freeml/runtime.h"

#define FREEML_NVM_FORMAT_VERSION 4u
#define FREEML_NVM_MAGIC 0x4E4C4D46u /* "FMLN" in little-endian bytes */
#define FREEML_SNAPSHOT_MAGIC 0x534C4D46u /* "FMLS" */

/* NVM layout: slot 0, slot 1, commit marker, the snapshot of the prepared
 * tables (16-byte aligned), the activations, then one CRC-32 per tensor
 * (the checksum table, 16-byte aligned). */
#define FREEML_NVM_SLOT_STRIDE 64u
#define FREEML_NVM_MARKER_OFFSET (2u * FREEML_NVM_SLOT_STRIDE)
#define FREEML_NVM_HEADER_BYTES (FREEML_NVM_MARKER_OFFSET + 16u)

/* Tile budgets when the config leaves them 0. A tile's energy must fit in
 * one charge of the storage capacitor: 16384 MACs take about 0.15 mJ on an
 * MSP430FR5994 at 8 MHz, half of what 100 uF holds between 3.5 and 1.8 V.
 * Each tile pays for a commit and a checksum: at this size the intermittent
 * mode costs 4-5% more instructions than the plain one on a Cortex-M4
 * (bench/firmware.py). 1 KB of scratch fits any MCU's SRAM. */
#define FREEML_DEFAULT_MAX_TILE_MACS 16384u
#define FREEML_DEFAULT_MAX_TILE_BYTES 1024u

typedef enum {
  FREEML_RUN_NONE = 0,    /* no run in NVM */
  FREEML_RUN_LOADING = 1, /* input being written (written again on resume) */
  FREEML_RUN_RUNNING = 2, /* op `op`, tile `tile` is next */
  FREEML_RUN_DONE = 3     /* outputs are complete in NVM */
} freeml_run_state;

/* One control slot, as stored in NVM (little-endian, 44 bytes). The
 * fields up to input_hash change only between runs and states, so their
 * CRC is kept from one commit to the next. */
typedef struct {
  uint32_t magic;          /* FREEML_NVM_MAGIC */
  uint16_t format_version; /* FREEML_NVM_FORMAT_VERSION */
  uint16_t state;          /* freeml_run_state */
  uint32_t model_hash;     /* CRC-32 of the model */
  uint32_t plan_hash;      /* CRC-32 of the tile plan and NVM layout */
  uint32_t run_id;         /* increases with every new input */
  uint32_t input_hash;     /* CRC-32 of the inputs' CRC-32s */
  uint32_t sequence;       /* commit number; slot = sequence % 2 */
  uint32_t op;             /* next op to run */
  uint32_t tile;           /* next tile of that op */
  uint32_t output_crc;     /* CRC-32 of op `op`'s output bytes that tiles
                              0 .. tile-1 wrote */
  uint32_t crc;            /* CRC-32 of the 40 bytes above */
} freeml_control_slot;

typedef struct {
  uint32_t model_hash;     /* freeml_crc32(0, model, size), or a constant
                              computed at build time */
  uint32_t max_tile_macs;  /* MACs per tile; 0: the default */
  uint32_t max_tile_bytes; /* output bytes per tile (the SRAM scratch);
                              0: the default */
  uint32_t snapshot_crc;   /* it.snapshot_crc of an init with this model
                              and config, known ahead (a constant computed
                              at build time); 0: no snapshot */
} freeml_intermittent_config;

/* The snapshot of the prepared tables, as stored in NVM after the control
 * block (little-endian uint32s, 264 bytes), followed by the arena's first
 * persistent_bytes: op table, parameters, tensor plans. Everything there is
 * position-independent (runtime.h), so the snapshot does not depend on
 * where the model or the arena lie. */
typedef struct {
  uint32_t magic;          /* FREEML_SNAPSHOT_MAGIC */
  uint32_t format_version; /* FREEML_NVM_FORMAT_VERSION */
  uint32_t model_hash;
  uint32_t model_size;
  uint32_t max_tile_macs;  /* the tile budgets in force */
  uint32_t max_tile_bytes;
  uint32_t num_ops;
  uint32_t num_tensors;
  uint32_t persistent_bytes;
  uint32_t activation_bytes;
  uint32_t scratch_bytes;
  uint32_t plan_hash;
  freeml_exit_plan exits;
} freeml_snapshot_header;

/* Counters of this boot (SRAM, so they restart at every boot). */
typedef struct {
  uint32_t tiles;           /* tiles computed */
  uint64_t macs;            /* MACs of those tiles */
  uint32_t commits;
  uint32_t nvm_writes;      /* port write calls */
  uint64_t nvm_bytes_written;
} freeml_intermittent_stats;

/* Energy the device can spend now, in the runtime's unit of work (one
 * multiply-accumulate; an op without MACs counts one per output unit),
 * given the work this run has done so far. On a device the port reads the
 * storage capacitor; the host runner takes a budget or a schedule
 * (docs/gnet.md). A function of committed progress makes the exit taken
 * independent of where power fails. */
typedef struct {
  uint64_t (*available)(void *context, uint64_t work_done);
  void *context;
} freeml_energy_port;

/* Why an adaptive run answered. */
typedef enum {
  FREEML_ANSWER_FULL = 0,      /* the whole network ran */
  FREEML_ANSWER_CONFIDENT = 1, /* an exit's margin met its threshold */
  FREEML_ANSWER_ENERGY = 2,    /* not enough energy to reach the next exit */
  FREEML_ANSWER_EARLIER = 3    /* an earlier boot answered early */
} freeml_answer_reason;

typedef struct {
  freeml_runtime rt;       /* activations point into NVM once running */
  freeml_intermittent_config config;
  uint32_t plan_hash;
  uint32_t snapshot_crc;       /* CRC-32 of the snapshot's bytes */
  int snapshot_pending;        /* NVM lacks the snapshot: start writes it */
  int restored;                /* this boot restored the snapshot */
  uint32_t activations_offset; /* NVM offset of the activations */
  uint32_t checksum_offset; /* NVM offset of the tensor checksum table */
  uint32_t input_crcs[FREEML_MAX_IO]; /* CRC-32 of each graph input */
  freeml_control_slot crc_prefix_of; /* the slot whose first fields... */
  uint32_t crc_prefix;               /* ...have this CRC-32 */
  uint8_t *scratch;        /* SRAM tile scratch in the arena */
  const freeml_nvm_port *nvm;
  freeml_control_slot committed; /* the latest commit */
  freeml_intermittent_stats stats;
  int32_t margin_exit;     /* exit whose margin is cached, -1: none */
  int32_t margin;
} freeml_intermittent;

/* Prepares the model as freeml_runtime_init does and plans the tiles;
 * the arena holds the op table, parameters, tensor plans and the tile
 * scratch (it.rt.memory.total_bytes). it.rt.memory.nvm_bytes is the NVM
 * the run needs. No NVM access. */
freeml_status freeml_intermittent_init(freeml_intermittent *it,
                                       const uint8_t *model,
                                       uint32_t model_size, uint8_t *arena,
                                       uint32_t arena_size,
                                       const freeml_intermittent_config *config,
                                       freeml_error *error);

/* freeml_intermittent_init, or at a lower cost its result from the
 * snapshot of the prepared tables that an earlier boot left in NVM: used
 * only when config->snapshot_crc is not 0 and the snapshot's bytes have
 * exactly that CRC-32 (same model, tile budgets and format; a torn or
 * damaged snapshot fails it); it.restored tells which. Otherwise the
 * tables are prepared again, and freeml_intermittent_start writes the
 * snapshot when their CRC-32 is config->snapshot_crc. Reads NVM, never
 * writes it. */
freeml_status freeml_intermittent_boot(freeml_intermittent *it,
                                       const uint8_t *model,
                                       uint32_t model_size, uint8_t *arena,
                                       uint32_t arena_size,
                                       const freeml_intermittent_config *config,
                                       const freeml_nvm_port *nvm,
                                       freeml_error *error);

/* Runs the inference for `inputs` (one pointer per graph input, of the
 * input tensor's bytes) to completion, resuming what NVM holds:
 *  - the committed run has the same model, plan and input: it continues
 *    from the committed tile (or, if done, returns at once);
 *  - otherwise a new run starts: the input is written to NVM and op 0 runs.
 * A damaged or stale control block (CRC, format version, another model or
 * plan) starts a new run and says why in `notice` (empty otherwise).
 * Returns FREEML_INTERRUPTED when the port reports a power failure: the
 * caller must stop and call this again after the next boot. */
freeml_status freeml_intermittent_run(freeml_intermittent *it,
                                      const freeml_nvm_port *nvm,
                                      const void *const *inputs,
                                      freeml_error *notice,
                                      freeml_error *error);

/* The same run in steps, for callers that act between tiles (a profile,
 * an exit check): start recovers or begins the run; then, while
 * it->committed.state is FREEML_RUN_RUNNING, each step runs and commits
 * the tile it->committed names. Same statuses as freeml_intermittent_run. */
freeml_status freeml_intermittent_start(freeml_intermittent *it,
                                        const freeml_nvm_port *nvm,
                                        const void *const *inputs,
                                        freeml_error *notice,
                                        freeml_error *error);
freeml_status freeml_intermittent_step(freeml_intermittent *it,
                                       freeml_error *error);

/* freeml_intermittent_run for a model with gNet exits (docs/gnet.md):
 * before every tile, once an exit is reached, it answers from the latest
 * exit when that exit's logit margin meets its threshold, or when `energy`
 * (optional) reports less than the work to the end of the next exit. The
 * decision is committed (state done, op < number of ops), so a boot after
 * it answers the same. A model without exits runs to the end. */
freeml_status freeml_intermittent_run_adaptive(
    freeml_intermittent *it, const freeml_nvm_port *nvm,
    const void *const *inputs, const freeml_energy_port *energy,
    freeml_answer_reason *reason, freeml_error *notice, freeml_error *error);

/* The exit a finished run answered from: k < rt.exits.count for gNet exit
 * k (its logits: freeml_exit_logits), rt.exits.count for the network's own
 * outputs. */
uint32_t freeml_intermittent_exit(const freeml_intermittent *it);

/* Work (see freeml_energy_port) of the run up to its committed progress,
 * and from there to the end of op `end_op` - 1. */
uint64_t freeml_intermittent_work_done(const freeml_intermittent *it);
uint64_t freeml_intermittent_work_until(const freeml_intermittent *it,
                                        uint32_t end_op);

/* Number of tiles of op `op_index` under the tile plan. */
uint32_t freeml_intermittent_op_tiles(const freeml_intermittent *it,
                                      uint32_t op_index);

/* CRC-32 of the slot's first 40 bytes (what `crc` must hold). */
uint32_t freeml_control_slot_crc(const freeml_control_slot *slot);

#endif /* FREEML_INTERMITTENT_H_ */
