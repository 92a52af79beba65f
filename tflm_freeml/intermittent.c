#include "tflm_freeml/intermittent.h"

#include <stddef.h>
#include <string.h>

#include "tflm_freeml/crc32.h"

#define SLOT_CHECKED_BYTES ((uint32_t)offsetof(freeml_control_slot, crc))
#define SLOT_PREFIX_BYTES ((uint32_t)offsetof(freeml_control_slot, sequence))

typedef char slot_is_44_bytes[sizeof(freeml_control_slot) == 44 ? 1 : -1];
typedef char snapshot_header_is_312_bytes
    [sizeof(freeml_snapshot_header) == 312 ? 1 : -1];
typedef char slot_fits_stride
    [sizeof(freeml_control_slot) <= FREEML_NVM_SLOT_STRIDE ? 1 : -1];

typedef enum {
  SLOT_VALID,
  SLOT_BLANK,         /* never written */
  SLOT_OTHER_VERSION, /* written by another format version */
  SLOT_DAMAGED        /* torn by a power failure, or corrupted */
} slot_check;

static uint32_t align16(uint32_t value) { return (value + 15u) & ~15u; }

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

uint32_t freeml_control_slot_crc(const freeml_control_slot *slot) {
  return freeml_crc32(0, slot, SLOT_CHECKED_BYTES);
}

/* NVM and hashes hold uint32 values as 4 little-endian bytes. */
static void store_u32(uint8_t bytes[4], uint32_t value) {
  bytes[0] = (uint8_t)value;
  bytes[1] = (uint8_t)(value >> 8);
  bytes[2] = (uint8_t)(value >> 16);
  bytes[3] = (uint8_t)(value >> 24);
}

static uint32_t hash_u32(uint32_t crc, uint32_t value) {
  uint8_t bytes[4];
  store_u32(bytes, value);
  return freeml_crc32(crc, bytes, 4);
}

static freeml_status nvm_write(freeml_intermittent *it, uint32_t offset,
                               const void *data, uint32_t bytes);

/* Units per tile for every op: as many as both budgets allow, at least
 * one. Returns the scratch bytes the largest tile needs. */
static uint32_t plan_tiles(freeml_runtime *rt, uint32_t max_macs,
                           uint32_t max_bytes) {
  uint32_t scratch = 0;
  uint32_t i;
  for (i = 0; i < rt->num_ops; ++i) {
    freeml_op *op = &rt->ops[i];
    uint32_t units = max_macs / (op->unit_macs > 0 ? op->unit_macs : 1u);
    units = min_u32(units, max_bytes / op->unit_bytes);
    units = min_u32(units, (uint32_t)op->units);
    if (units == 0) units = 1;
    op->tile_units = (int32_t)units;
    if (units * op->unit_bytes > scratch) scratch = units * op->unit_bytes;
  }
  return align16(scratch);
}

/* NVM bytes of the snapshot of the prepared tables. */
static uint32_t snapshot_bytes(const freeml_runtime *rt) {
  return align16((uint32_t)sizeof(freeml_snapshot_header) +
                 rt->memory.persistent_bytes);
}

static uint32_t it_activations_offset(const freeml_runtime *rt) {
  return FREEML_NVM_HEADER_BYTES + snapshot_bytes(rt);
}

/* The SRAM and NVM layout from the prepared tables and the scratch size. */
static void set_layout(freeml_intermittent *it) {
  freeml_runtime *rt = &it->rt;
  it->rt.memory.total_bytes =
      align16(rt->memory.persistent_bytes) + rt->memory.scratch_bytes;
  rt->memory.snapshot_bytes = snapshot_bytes(rt);
  it->activations_offset = it_activations_offset(rt);
  it->checksum_offset = it->activations_offset + rt->memory.activation_bytes;
  rt->memory.nvm_bytes = it->checksum_offset + align16(4u * rt->num_tensors);
}

/* The snapshot's header for the prepared tables. */
static void snapshot_header(const freeml_intermittent *it,
                            freeml_snapshot_header *header) {
  memset(header, 0, sizeof(*header));
  header->magic = FREEML_SNAPSHOT_MAGIC;
  header->format_version = FREEML_NVM_FORMAT_VERSION;
  header->model_hash = it->config.model_hash;
  header->model_size = it->rt.model.fb.size;
  header->max_tile_macs = it->config.max_tile_macs;
  header->max_tile_bytes = it->config.max_tile_bytes;
  header->num_ops = it->rt.num_ops;
  header->num_tensors = it->rt.num_tensors;
  header->persistent_bytes = it->rt.memory.persistent_bytes;
  header->activation_bytes = it->rt.memory.activation_bytes;
  header->scratch_bytes = it->rt.memory.scratch_bytes;
  header->plan_hash = it->plan_hash;
  header->exits = it->rt.exits;
}

/* Everything a committed (op, tile) depends on besides the model: the tile
 * plan and where each tensor lives in NVM. */
static uint32_t plan_hash(const freeml_runtime *rt) {
  uint32_t crc = hash_u32(0, FREEML_NVM_FORMAT_VERSION);
  uint32_t i;
  crc = hash_u32(crc, FREEML_NVM_HEADER_BYTES);
  crc = hash_u32(crc, it_activations_offset(rt));
  crc = hash_u32(crc, rt->memory.activation_bytes);
  for (i = 0; i < rt->num_ops; ++i) {
    crc = hash_u32(crc, (uint32_t)rt->ops[i].units);
    crc = hash_u32(crc, (uint32_t)rt->ops[i].tile_units);
    crc = hash_u32(crc, rt->ops[i].unit_bytes);
    crc = hash_u32(crc, (uint32_t)rt->ops[i].output);
  }
  for (i = 0; i < rt->num_tensors; ++i) {
    crc = hash_u32(crc, rt->tensors[i].offset);
    crc = hash_u32(crc, rt->tensors[i].bytes);
  }
  return crc;
}

/* The config with the default tile budgets where it leaves them 0. */
static freeml_intermittent_config with_defaults(
    const freeml_intermittent_config *config) {
  freeml_intermittent_config filled = *config;
  if (filled.max_tile_macs == 0) {
    filled.max_tile_macs = FREEML_DEFAULT_MAX_TILE_MACS;
  }
  if (filled.max_tile_bytes == 0) {
    filled.max_tile_bytes = FREEML_DEFAULT_MAX_TILE_BYTES;
  }
  return filled;
}

freeml_status freeml_intermittent_init(freeml_intermittent *it,
                                       const uint8_t *model,
                                       uint32_t model_size, uint8_t *arena,
                                       uint32_t arena_size,
                                       const freeml_intermittent_config *config,
                                       freeml_error *error) {
  freeml_runtime *rt = &it->rt;
  uint32_t scratch_start;
  freeml_status status;
  memset(it, 0, sizeof(*it));
  if (config == 0) {
    return freeml_fail(error, FREEML_ERR_ARG, "no intermittent config given");
  }
  it->config = with_defaults(config);
  status = freeml_runtime_prepare(rt, model, model_size, arena, arena_size,
                                  error);
  if (status != FREEML_OK) return status;
  rt->memory.scratch_bytes = plan_tiles(rt, it->config.max_tile_macs,
                                        it->config.max_tile_bytes);
  scratch_start = align16(rt->memory.persistent_bytes);
  set_layout(it);
  if (rt->memory.total_bytes > rt->arena_size) {
    return freeml_fail(error, FREEML_ERR_ARENA,
                       "arena of %u bytes is too small: the model needs %u "
                       "in intermittent mode",
                       (unsigned)rt->arena_size,
                       (unsigned)rt->memory.total_bytes);
  }
  it->scratch = rt->arena + scratch_start;
  it->plan_hash = plan_hash(rt);
  {
    freeml_snapshot_header header;
    snapshot_header(it, &header);
    it->snapshot_crc = freeml_crc32(
        freeml_crc32(0, &header, (uint32_t)sizeof(header)), rt->arena,
        rt->memory.persistent_bytes);
  }
  it->snapshot_pending = it->config.snapshot_crc != 0 &&
                         it->snapshot_crc == it->config.snapshot_crc;
  return FREEML_OK;
}

/* The snapshot in NVM if it is the one config->snapshot_crc names, else 0.
 * Its fields are checked before its CRC, which is computed only over bytes
 * inside the NVM region. */
static const freeml_snapshot_header *valid_snapshot(
    const freeml_intermittent *it, const freeml_nvm_port *nvm) {
  const freeml_snapshot_header *header;
  uint32_t crc;
  if (nvm == 0 || nvm->base == 0 || ((uintptr_t)nvm->base & 15u) != 0 ||
      nvm->size < FREEML_NVM_HEADER_BYTES + sizeof(freeml_snapshot_header)) {
    return 0;
  }
  header = (const freeml_snapshot_header *)(const void *)(
      nvm->base + FREEML_NVM_HEADER_BYTES);
  if (header->magic != FREEML_SNAPSHOT_MAGIC ||
      header->format_version != FREEML_NVM_FORMAT_VERSION ||
      header->model_hash != it->config.model_hash ||
      header->model_size != it->rt.model.fb.size ||
      header->max_tile_macs != it->config.max_tile_macs ||
      header->max_tile_bytes != it->config.max_tile_bytes ||
      header->num_ops != it->rt.num_ops ||
      header->num_tensors != it->rt.num_tensors ||
      header->persistent_bytes > it->rt.arena_size ||
      header->persistent_bytes >
          nvm->size - FREEML_NVM_HEADER_BYTES - sizeof(freeml_snapshot_header)) {
    return 0;
  }
  crc = freeml_crc32(0, header, (uint32_t)sizeof(*header));
  crc = freeml_crc32(crc, header + 1, header->persistent_bytes);
  return crc == it->config.snapshot_crc ? header : 0;
}

freeml_status freeml_intermittent_boot(freeml_intermittent *it,
                                       const uint8_t *model,
                                       uint32_t model_size, uint8_t *arena,
                                       uint32_t arena_size,
                                       const freeml_intermittent_config *config,
                                       const freeml_nvm_port *nvm,
                                       freeml_error *error) {
  freeml_runtime *rt = &it->rt;
  const freeml_snapshot_header *header;
  if (config == 0 || config->snapshot_crc == 0) {
    return freeml_intermittent_init(it, model, model_size, arena, arena_size,
                                    config, error);
  }
  memset(it, 0, sizeof(*it));
  it->config = with_defaults(config);
  if (freeml_runtime_open(rt, model, model_size, arena, arena_size, 0) !=
          FREEML_OK ||
      (header = valid_snapshot(it, nvm)) == 0) {
    return freeml_intermittent_init(it, model, model_size, arena, arena_size,
                                    config, error);
  }
  /* The snapshot is the one an init with this model and config makes: its
   * sizes fit this arena unless the arena is too small for the model. */
  memcpy(rt->arena, header + 1, header->persistent_bytes);
  rt->exits = header->exits;
  rt->memory.persistent_bytes = header->persistent_bytes;
  rt->memory.activation_bytes = header->activation_bytes;
  rt->memory.scratch_bytes = header->scratch_bytes;
  set_layout(it);
  if (rt->memory.total_bytes > rt->arena_size) {
    return freeml_intermittent_init(it, model, model_size, arena, arena_size,
                                    config, error);
  }
  it->scratch = rt->arena + align16(rt->memory.persistent_bytes);
  it->plan_hash = header->plan_hash;
  it->snapshot_crc = config->snapshot_crc;
  it->restored = 1;
  return FREEML_OK;
}

/* Writes the snapshot of the prepared tables after the control block. A
 * failure leaves bytes whose CRC differs (up to 2^-32): the next boot
 * prepares the tables again. */
static freeml_status write_snapshot(freeml_intermittent *it) {
  freeml_snapshot_header header;
  freeml_status status;
  snapshot_header(it, &header);
  status = nvm_write(it, FREEML_NVM_HEADER_BYTES, &header,
                     (uint32_t)sizeof(header));
  if (status == FREEML_OK) {
    status = nvm_write(it,
                       FREEML_NVM_HEADER_BYTES + (uint32_t)sizeof(header),
                       it->rt.arena, it->rt.memory.persistent_bytes);
  }
  if (status == FREEML_OK) it->snapshot_pending = 0;
  return status;
}

uint32_t freeml_intermittent_op_tiles(const freeml_intermittent *it,
                                      uint32_t op_index) {
  const freeml_op *op;
  if (op_index >= it->rt.num_ops) return 0;
  op = &it->rt.ops[op_index];
  return ((uint32_t)op->units + (uint32_t)op->tile_units - 1u) /
         (uint32_t)op->tile_units;
}

/* ---- NVM access: every store is counted ---- */

static freeml_status nvm_write(freeml_intermittent *it, uint32_t offset,
                               const void *data, uint32_t bytes) {
  ++it->stats.nvm_writes;
  it->stats.nvm_bytes_written += bytes;
  if (it->nvm->write(it->nvm->context, offset, data, bytes) != 0) {
    return FREEML_INTERRUPTED;
  }
  return FREEML_OK;
}

static freeml_status nvm_barrier(freeml_intermittent *it) {
  return it->nvm->barrier(it->nvm->context) != 0 ? FREEML_INTERRUPTED
                                                 : FREEML_OK;
}

static freeml_status write_u32(freeml_intermittent *it, uint32_t offset,
                               uint32_t value) {
  uint8_t bytes[4];
  store_u32(bytes, value);
  return nvm_write(it, offset, bytes, 4);
}

static freeml_status write_marker(freeml_intermittent *it, uint32_t sequence) {
  const freeml_status status =
      write_u32(it, FREEML_NVM_MARKER_OFFSET, sequence);
  return status != FREEML_OK ? status : nvm_barrier(it);
}

static uint32_t read_u32(const freeml_intermittent *it, uint32_t offset) {
  const uint8_t *p = it->nvm->base + offset;
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

/* Stores a finished tensor's CRC in the checksum table (no barrier: the
 * commit that follows has one before it). */
static freeml_status write_tensor_crc(freeml_intermittent *it, int32_t tensor,
                                      uint32_t crc) {
  return write_u32(it, it->checksum_offset + 4u * (uint32_t)tensor, crc);
}

/* Whether two slots agree up to input_hash (field by field: cheaper than
 * a byte-wise memcmp on the device). */
static int same_prefix(const freeml_control_slot *a,
                       const freeml_control_slot *b) {
  return a->magic == b->magic && a->format_version == b->format_version &&
         a->state == b->state && a->model_hash == b->model_hash &&
         a->plan_hash == b->plan_hash && a->run_id == b->run_id &&
         a->input_hash == b->input_hash;
}

/* Commits progress: slot (sequence % 2) first, then the marker. A failure
 * while the slot is written leaves the other slot, the previous commit, in
 * force; once the slot is whole the commit holds, marker or not. */
static freeml_status commit(freeml_intermittent *it, freeml_run_state state,
                            uint32_t op, uint32_t tile, uint32_t output_crc) {
  freeml_control_slot next = it->committed;
  freeml_status status;
  next.magic = FREEML_NVM_MAGIC;
  next.format_version = (uint16_t)FREEML_NVM_FORMAT_VERSION;
  next.state = (uint16_t)state;
  next.sequence = it->committed.sequence + 1u;
  next.op = op;
  next.tile = tile;
  next.output_crc = output_crc;
  if (!same_prefix(&next, &it->crc_prefix_of)) {
    it->crc_prefix_of = next;
    it->crc_prefix = freeml_crc32(0, &next, SLOT_PREFIX_BYTES);
  }
  next.crc = freeml_crc32(it->crc_prefix, &next.sequence,
                          SLOT_CHECKED_BYTES - SLOT_PREFIX_BYTES);
  status = nvm_write(it, (next.sequence & 1u) * FREEML_NVM_SLOT_STRIDE, &next,
                     (uint32_t)sizeof(next));
  if (status == FREEML_OK) status = nvm_barrier(it);
  if (status != FREEML_OK) return status;
  it->committed = next;
  ++it->stats.commits;
  return write_marker(it, next.sequence);
}

/* ---- recovery at boot ---- */

static slot_check check_slot(const freeml_control_slot *slot,
                             uint32_t index) {
  static const freeml_control_slot kBlank;
  if (memcmp(slot, &kBlank, sizeof(*slot)) == 0) return SLOT_BLANK;
  if (slot->magic != FREEML_NVM_MAGIC) return SLOT_DAMAGED;
  if (slot->format_version != FREEML_NVM_FORMAT_VERSION) {
    return SLOT_OTHER_VERSION;
  }
  if (slot->crc != freeml_control_slot_crc(slot) ||
      (slot->sequence & 1u) != index || slot->state < FREEML_RUN_LOADING ||
      slot->state > FREEML_RUN_DONE) {
    return SLOT_DAMAGED;
  }
  return SLOT_VALID;
}

/* A state with no run, whose next commit outnumbers every valid slot. */
static void forget_run(freeml_intermittent *it, const freeml_control_slot *last) {
  memset(&it->committed, 0, sizeof(it->committed));
  if (last != 0) {
    it->committed.sequence = last->sequence;
    it->committed.run_id = last->run_id;
  }
  it->committed.model_hash = it->config.model_hash;
  it->committed.plan_hash = it->plan_hash;
}

/* Reads the control block into it->committed: the latest commit when it
 * can be trusted, else no run (with the reason in `notice`). */
static freeml_status recover(freeml_intermittent *it, freeml_error *notice) {
  freeml_control_slot slots[2];
  slot_check checks[2];
  const freeml_control_slot *best;
  uint32_t marker = read_u32(it, FREEML_NVM_MARKER_OFFSET);
  uint32_t i, other;
  for (i = 0; i < 2; ++i) {
    memcpy(&slots[i], it->nvm->base + i * FREEML_NVM_SLOT_STRIDE,
           sizeof(slots[i]));
    checks[i] = check_slot(&slots[i], i);
  }
  if (checks[0] != SLOT_VALID && checks[1] != SLOT_VALID) {
    forget_run(it, 0);
    if (checks[0] == SLOT_OTHER_VERSION || checks[1] == SLOT_OTHER_VERSION) {
      const freeml_control_slot *s =
          checks[0] == SLOT_OTHER_VERSION ? &slots[0] : &slots[1];
      freeml_fail(notice, FREEML_OK,
                  "NVM holds format version %u, this runtime writes %u: "
                  "starting a new run",
                  (unsigned)s->format_version,
                  (unsigned)FREEML_NVM_FORMAT_VERSION);
    } else if (checks[0] == SLOT_DAMAGED || checks[1] == SLOT_DAMAGED) {
      freeml_fail(notice, FREEML_OK,
                  "NVM control block fails its checks: starting a new run");
    }
    return FREEML_OK;
  }
  if (checks[0] == SLOT_VALID && checks[1] == SLOT_VALID) {
    i = slots[1].sequence > slots[0].sequence ? 1u : 0u;
  } else {
    i = checks[1] == SLOT_VALID ? 1u : 0u;
  }
  best = &slots[i];
  other = 1u - i;
  if ((checks[other] == SLOT_DAMAGED || checks[other] == SLOT_OTHER_VERSION) &&
      marker != best->sequence) {
    /* The marker moved past the intact slot, so the other one was whole
     * once and is damaged now: work after it may have overwritten what the
     * older commit needs. (A blank slot never held a commit.) */
    forget_run(it, best);
    freeml_fail(notice, FREEML_OK,
                "NVM control slot %u, the latest commit, fails its check: "
                "starting a new run",
                (unsigned)other);
    return FREEML_OK;
  }
  if (best->model_hash != it->config.model_hash) {
    forget_run(it, best);
    freeml_fail(notice, FREEML_OK,
                "NVM holds the state of another model: starting a new run");
    return FREEML_OK;
  }
  if (best->plan_hash != it->plan_hash) {
    forget_run(it, best);
    freeml_fail(notice, FREEML_OK,
                "NVM was written under another tile plan or layout: starting "
                "a new run");
    return FREEML_OK;
  }
  if ((best->state == FREEML_RUN_RUNNING &&
       (best->op >= it->rt.num_ops ||
        best->tile >= freeml_intermittent_op_tiles(it, best->op))) ||
      (best->state == FREEML_RUN_DONE && best->op != it->rt.num_ops &&
       (best->op > it->rt.num_ops || best->tile != 0 ||
        freeml_exits_reached(&it->rt, best->op) == 0))) {
    forget_run(it, best);
    freeml_fail(notice, FREEML_OK,
                "NVM progress (op %u, tile %u) is outside the model: starting "
                "a new run",
                (unsigned)best->op, (unsigned)best->tile);
    return FREEML_OK;
  }
  it->committed = *best;
  if (checks[other] == SLOT_DAMAGED || checks[other] == SLOT_OTHER_VERSION) {
    freeml_fail(notice, FREEML_OK,
                "NVM control slot %u fails its check (a commit cut by a power "
                "failure, or damage to the older slot): resuming from slot %u",
                (unsigned)other, (unsigned)i);
  }
  /* Work may follow a commit only once the marker names it (see above). */
  return marker != best->sequence ? write_marker(it, best->sequence)
                                  : FREEML_OK;
}

/* The first tensor a resumed run would read whose bytes fail their check,
 * or -1: every finished tensor still to be read (graph outputs included)
 * against the checksum table, then the current op's committed output
 * against the slot. */
static int32_t damaged_tensor(const freeml_intermittent *it) {
  const freeml_runtime *rt = &it->rt;
  const freeml_control_slot *c = &it->committed;
  const int32_t next_op = (int32_t)c->op;
  uint32_t i;
  for (i = 0; i < rt->num_tensors; ++i) {
    const freeml_tensor_plan *t = &rt->tensors[i];
    if (t->bytes != 0 && t->first_op < next_op && t->last_op >= next_op &&
        freeml_crc32(0, rt->activations + t->offset, t->bytes) !=
            read_u32(it, it->checksum_offset + 4u * i)) {
      return (int32_t)i;
    }
  }
  if (c->state == FREEML_RUN_RUNNING) {
    const freeml_op *op = &rt->ops[c->op];
    const uint32_t done = c->tile * (uint32_t)op->tile_units * op->unit_bytes;
    if (freeml_crc32(0, rt->activations + rt->tensors[op->output].offset,
                     done) != c->output_crc) {
      return op->output;
    }
  }
  return -1;
}

/* ---- running ---- */

/* The CRC of each input (kept for the checksum table) and, as the run's
 * input hash, the CRC of those CRCs. */
static uint32_t input_hash(freeml_intermittent *it,
                           const void *const *inputs) {
  uint32_t crc = 0;
  uint32_t i;
  for (i = 0; i < freeml_runtime_num_inputs(&it->rt); ++i) {
    const int32_t t = freeml_runtime_input(&it->rt, i);
    it->input_crcs[i] = freeml_crc32(0, inputs[i], it->rt.tensors[t].bytes);
    crc = hash_u32(crc, it->input_crcs[i]);
  }
  return crc;
}

static uint32_t tensor_nvm_offset(const freeml_intermittent *it,
                                  int32_t tensor) {
  return it->activations_offset + it->rt.tensors[tensor].offset;
}

/* A new run: LOADING until the input is whole in NVM, so that a failure
 * while it is written cannot leave a resumable mix of two inputs. A run
 * already LOADING this input only writes it again. */
static freeml_status load_input(freeml_intermittent *it,
                                const void *const *inputs, uint32_t hash) {
  freeml_status status;
  uint32_t i;
  if (it->committed.state != FREEML_RUN_LOADING ||
      it->committed.input_hash != hash) {
    it->committed.run_id += 1u;
    it->committed.input_hash = hash;
    it->committed.model_hash = it->config.model_hash;
    it->committed.plan_hash = it->plan_hash;
    if ((status = commit(it, FREEML_RUN_LOADING, 0, 0, 0)) != FREEML_OK) {
      return status;
    }
  }
  for (i = 0; i < freeml_runtime_num_inputs(&it->rt); ++i) {
    const int32_t t = freeml_runtime_input(&it->rt, i);
    const uint32_t bytes = it->rt.tensors[t].bytes;
    status = nvm_write(it, tensor_nvm_offset(it, t), inputs[i], bytes);
    if (status == FREEML_OK) {
      status = write_tensor_crc(it, t, it->input_crcs[i]);
    }
    if (status != FREEML_OK) return status;
  }
  if ((status = nvm_barrier(it)) != FREEML_OK) return status;
  return it->rt.num_ops == 0 ? commit(it, FREEML_RUN_DONE, 0, 0, 0)
                             : commit(it, FREEML_RUN_RUNNING, 0, 0, 0);
}

/* Runs the committed tile, writes its output to NVM and commits the next. */
static freeml_status run_next_tile(freeml_intermittent *it,
                                   freeml_error *error) {
  const uint32_t op_index = it->committed.op;
  const freeml_op *op = &it->rt.ops[op_index];
  freeml_tile tile;
  uint32_t bytes, output_crc;
  freeml_status status;
  tile.start = (int32_t)it->committed.tile * op->tile_units;
  tile.end = tile.start + op->tile_units;
  if (tile.end > op->units) tile.end = op->units;
  status = freeml_runtime_run_tile(&it->rt, op_index, tile, it->scratch, error);
  if (status != FREEML_OK) return status;
  ++it->stats.tiles;
  it->stats.macs += (uint64_t)(tile.end - tile.start) * op->unit_macs;
  bytes = (uint32_t)(tile.end - tile.start) * op->unit_bytes;
  output_crc = freeml_crc32(it->committed.output_crc, it->scratch, bytes);
  status = nvm_write(it,
                     tensor_nvm_offset(it, op->output) +
                         (uint32_t)tile.start * op->unit_bytes,
                     it->scratch, bytes);
  if (status == FREEML_OK && tile.end < op->units) status = nvm_barrier(it);
  if (status != FREEML_OK) return status;
  if (tile.end < op->units) {
    return commit(it, FREEML_RUN_RUNNING, op_index, it->committed.tile + 1u,
                  output_crc);
  }
  status = write_tensor_crc(it, op->output, output_crc);
  if (status == FREEML_OK) status = nvm_barrier(it);
  if (status != FREEML_OK) return status;
  return op_index + 1u < it->rt.num_ops
             ? commit(it, FREEML_RUN_RUNNING, op_index + 1u, 0, 0)
             : commit(it, FREEML_RUN_DONE, op_index + 1u, 0, 0);
}

/* Names the NVM write at which power failed. */
static freeml_status interrupted(const freeml_intermittent *it,
                                 freeml_status status, freeml_error *error) {
  if (status != FREEML_INTERRUPTED) return status;
  return freeml_fail(error, status, "power failed at NVM write %u",
                     (unsigned)it->stats.nvm_writes);
}

freeml_status freeml_intermittent_start(freeml_intermittent *it,
                                        const freeml_nvm_port *nvm,
                                        const void *const *inputs,
                                        freeml_error *notice,
                                        freeml_error *error) {
  freeml_status status;
  uint32_t hash;
  if (notice != 0) notice->message[0] = '\0';
  if (it->scratch == 0) {
    return freeml_fail(error, FREEML_ERR_ARG,
                       "intermittent runtime is not initialised");
  }
  if (nvm == 0 || nvm->base == 0 || nvm->write == 0 || nvm->barrier == 0 ||
      ((uintptr_t)nvm->base & 15u) != 0) {
    return freeml_fail(error, FREEML_ERR_ARG,
                       "NVM port needs a 16-byte aligned base, write and "
                       "barrier");
  }
  if (nvm->size < it->rt.memory.nvm_bytes) {
    return freeml_fail(error, FREEML_ERR_ARENA,
                       "NVM of %u bytes is too small: the model needs %u",
                       (unsigned)nvm->size, (unsigned)it->rt.memory.nvm_bytes);
  }
  it->nvm = nvm;
  /* Kernels read activations in place; every store goes through the port. */
  it->rt.activations =
      (uint8_t *)(uintptr_t)(nvm->base + it->activations_offset);
  status = it->snapshot_pending ? write_snapshot(it) : FREEML_OK;
  if (status != FREEML_OK) return interrupted(it, status, error);
  status = recover(it, notice);
  hash = input_hash(it, inputs);
  if (status == FREEML_OK &&
      (it->committed.state == FREEML_RUN_RUNNING ||
       it->committed.state == FREEML_RUN_DONE) &&
      it->committed.input_hash == hash) {
    const int32_t damaged = damaged_tensor(it);
    if (damaged >= 0) {
      const freeml_control_slot last = it->committed;
      forget_run(it, &last);
      freeml_fail(notice, FREEML_OK,
                  "NVM activations of tensor %d fail their check: starting a "
                  "new run",
                  (int)damaged);
    }
  }
  if (status == FREEML_OK &&
      ((it->committed.state != FREEML_RUN_RUNNING &&
        it->committed.state != FREEML_RUN_DONE) ||
       it->committed.input_hash != hash)) {
    status = load_input(it, inputs, hash);
  }
  return interrupted(it, status, error);
}

freeml_status freeml_intermittent_step(freeml_intermittent *it,
                                       freeml_error *error) {
  if (it->nvm == 0 || it->committed.state != FREEML_RUN_RUNNING) {
    return freeml_fail(error, FREEML_ERR_ARG,
                       "no running inference: call freeml_intermittent_start");
  }
  return interrupted(it, run_next_tile(it, error), error);
}

/* ---- adaptive runs: gNet exits ---- */

static uint64_t op_work(const freeml_op *op, uint32_t units) {
  return (uint64_t)units * (op->unit_macs > 0 ? op->unit_macs : 1u);
}

uint64_t freeml_intermittent_work_done(const freeml_intermittent *it) {
  const uint32_t next = it->committed.op;
  uint64_t work = 0;
  uint32_t i;
  for (i = 0; i < next && i < it->rt.num_ops; ++i) {
    work += op_work(&it->rt.ops[i], (uint32_t)it->rt.ops[i].units);
  }
  if (it->committed.state == FREEML_RUN_RUNNING && next < it->rt.num_ops) {
    const freeml_op *op = &it->rt.ops[next];
    work += op_work(op, it->committed.tile * (uint32_t)op->tile_units);
  }
  return work;
}

uint64_t freeml_intermittent_work_until(const freeml_intermittent *it,
                                        uint32_t end_op) {
  uint64_t total = 0;
  uint32_t i;
  for (i = 0; i < end_op && i < it->rt.num_ops; ++i) {
    total += op_work(&it->rt.ops[i], (uint32_t)it->rt.ops[i].units);
  }
  return total - freeml_intermittent_work_done(it);
}

uint32_t freeml_intermittent_exit(const freeml_intermittent *it) {
  if (it->committed.op >= it->rt.num_ops) return it->rt.exits.count;
  return freeml_exits_reached(&it->rt, it->committed.op) - 1u;
}

/* The latest reached exit's logit margin, computed once per exit per boot. */
static int32_t latest_margin(freeml_intermittent *it, uint32_t exit) {
  if (it->margin_exit != (int32_t)exit) {
    it->margin = freeml_exit_margin(&it->rt, exit);
    it->margin_exit = (int32_t)exit;
  }
  return it->margin;
}

/* Whether to answer now, before the committed tile, and why. */
static int answer_now(freeml_intermittent *it,
                      const freeml_energy_port *energy,
                      freeml_answer_reason *reason) {
  const freeml_exit_plan *plan = &it->rt.exits;
  const uint32_t reached = freeml_exits_reached(&it->rt, it->committed.op);
  uint32_t next_end;
  if (reached == 0) return 0;
  if (latest_margin(it, reached - 1u) >= plan->threshold[reached - 1u]) {
    *reason = FREEML_ANSWER_CONFIDENT;
    return 1;
  }
  if (energy == 0 || energy->available == 0) return 0;
  next_end = reached < plan->count ? (uint32_t)plan->op[reached] + 1u
                                   : it->rt.num_ops;
  if (energy->available(energy->context,
                        freeml_intermittent_work_done(it)) <
      freeml_intermittent_work_until(it, next_end)) {
    *reason = FREEML_ANSWER_ENERGY;
    return 1;
  }
  return 0;
}

freeml_status freeml_intermittent_run_adaptive(
    freeml_intermittent *it, const freeml_nvm_port *nvm,
    const void *const *inputs, const freeml_energy_port *energy,
    freeml_answer_reason *reason, freeml_error *notice, freeml_error *error) {
  freeml_answer_reason why = FREEML_ANSWER_FULL;
  freeml_status status = freeml_intermittent_start(it, nvm, inputs, notice,
                                                   error);
  it->margin_exit = -1;
  if (status == FREEML_OK && it->committed.state == FREEML_RUN_DONE &&
      it->committed.op < it->rt.num_ops) {
    why = FREEML_ANSWER_EARLIER;
  }
  while (status == FREEML_OK && it->committed.state == FREEML_RUN_RUNNING) {
    if (answer_now(it, energy, &why)) {
      status = interrupted(
          it,
          commit(it, FREEML_RUN_DONE, it->committed.op, 0,
                 it->committed.output_crc),
          error);
      break;
    }
    status = freeml_intermittent_step(it, error);
  }
  if (reason != 0) *reason = why;
  return status;
}

freeml_status freeml_intermittent_run(freeml_intermittent *it,
                                      const freeml_nvm_port *nvm,
                                      const void *const *inputs,
                                      freeml_error *notice,
                                      freeml_error *error) {
  freeml_status status = freeml_intermittent_start(it, nvm, inputs, notice,
                                                   error);
  while (status == FREEML_OK && it->committed.state == FREEML_RUN_RUNNING) {
    status = freeml_intermittent_step(it, error);
  }
  return status;
}
