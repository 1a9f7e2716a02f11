// Gather and scatter through element offsets. The dense operand is shaped (P..., I..., Q...):
// P and Q span the indexed tensor's dims before and after the split, I the offsets' dims.
// Each thread takes one index of the parallel dims and walks the serial dims in order: a
// gather runs everything in parallel (one serial step); a scatter walks I serially, so that
// of several writes to one element the last wins, as on the CPU. Operands: 0 the indexed
// tensor (its P and Q strides), 1 the offsets (its I strides), 2 the dense tensor.
// Configured by the host:
//   TL_RANK / TL_SERIAL_RANK  merged parallel / serial dims;  TL_T  an unsigned type of the
//   element size;  TL_SCATTER  1 to write into the indexed tensor.

struct GatherArgs {
  char* indexed;
  const int64_t* offsets;
  char* dense;
  int64_t off[3];
  int64_t st[3][TL_RANK];
  int64_t shape[TL_RANK];
  int64_t sst[3][TL_SERIAL_RANK];
  int64_t sshape[TL_SERIAL_RANK];
  int64_t parallel, serial;
};

extern "C" __global__ void tl_gather(const GatherArgs a) {
  TL_T* indexed = (TL_T*)a.indexed;
  TL_T* dense = (TL_T*)a.dense;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t lin = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; lin < a.parallel; lin += step) {
    int64_t base[3] = {a.off[0], a.off[1], a.off[2]};
    tl_unravel<TL_RANK, 3, true>(lin, a.shape, a.st, base);
    for (int64_t s = 0; s < a.serial; ++s) {
      int64_t off[3] = {base[0], base[1], base[2]};
      tl_unravel<TL_SERIAL_RANK, 3>(s, a.sshape, a.sst, off);
      const int64_t at = off[0] + a.offsets[off[1]];
#if TL_SCATTER
      indexed[at] = dense[off[2]];
#else
      dense[off[2]] = indexed[at];
#endif
    }
  }
}
