// The residual gated GCN's edge passes on the CPU, each one sweep over the edges.
//
// Built and loaded by gatedgcn/ops/_native.py, called from gatedgcn/ops/_gated_native.py; the op and its
// autograd are gatedgcn/ops/gated.py, which documents the equations.  Plain C++17 and OpenMP, no torch headers; the library links
// libgomp, and as torch has loaded its own libgomp already, the passes run on torch's threads
// (a second runtime's threads would compete with torch's spinning ones for the cores).  Every
// function comes in float (f32) and double (f64).
//
// Parallel passes split the work without atomics and without per-thread copies of node tables:
// the node ids that a chunk of edges touches, from its lowest to its highest, are cut into U equal
// ranges; unit u owns the u-th and handles exactly the edges whose receiver (sender) it owns, in
// edge order.  So every node row is written by one unit, the result does not depend on the
// scheduling, a chunk of edges from one small graph (a few hundred consecutive node ids) still
// keeps every thread busy, and as a batch lists its graphs' edges one graph after another, a
// unit's edges lie close together (its reads stream from memory).
// There are more units than threads (the caller picks U), handed out one at a time (dynamic
// schedule): a thread that the OS puts off its core (the machine is busy) holds up only the
// unit it is on, while the others take the rest.  Column sums are kept per unit (in double)
// and added up by the caller.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

using idx = int64_t;

// body(u) for u = 0 .. U-1, each exactly once: on up to T of the OpenMP threads (torch's own pool: the
// library is linked against libgomp, which torch has loaded already), each thread taking the next unit
// when it is done with one; or one after another where the library was built without OpenMP.
// One parallel region per call, so one barrier.
template <class Body>
void run_units(int T, int U, const Body& body) {
#ifdef _OPENMP
  if (T > 1 && U > 1) {
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int u = 0; u < U; ++u) body(u);
    return;
  }
#endif
  for (int u = 0; u < U; ++u) body(u);
}

// e^x for float, branch-free so that the compiler vectorises the loops that call it:
// x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two parts; n rounded by adding 1.5·2^23, which
// also leaves n in the low mantissa bits), e^r by a degree-6 polynomial (Cephes' coefficients),
// 2^n through the exponent bits.  About 1 ulp for x in [-87, 88] (clamped outside); NaN stays NaN.
inline float exp_of(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  const float t = x * 1.44269504088896341f + 12582912.0f;
  const float n = t - 12582912.0f;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t t_bits;
  std::memcpy(&t_bits, &t, sizeof t_bits);
  const int32_t bits = (t_bits - 0x4B400000 + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}

inline double exp_of(double x) { return std::exp(x); }

template <class F>
inline F sigmoid(F v) {
  return F(1) / (F(1) + exp_of(-v));
}

// Who owns a node id: ids [lo, hi] of the chunk cut into U ranges of ``width`` ids.
struct Owners {
  idx lo = 0, width = std::numeric_limits<idx>::max();  // one unit: it owns every id
  Owners(idx E, const idx* ids, int U) {
    if (U <= 1 || E == 0) return;
    idx hi = ids[0];
    lo = ids[0];
    for (idx k = 1; k < E; ++k) {
      lo = ids[k] < lo ? ids[k] : lo;
      hi = ids[k] > hi ? ids[k] : hi;
    }
    width = (hi - lo + U) / U;  // ceil((hi - lo + 1) / U): the id hi falls in range U - 1 at most
  }
  // The ids of unit u: [first, last).
  struct Range {
    idx first, last;
    bool owns(idx node) const { return node >= first && node < last; }
  };
  Range of(int u) const {
    if (width == std::numeric_limits<idx>::max()) return {std::numeric_limits<idx>::min(), width};
    return {lo + u * width, lo + (u + 1) * width};
  }
};

// Edges ahead of the current one whose node rows are prefetched: random rows of large node tables
// come from memory, and the loads of a few edges in flight hide most of its latency.
constexpr idx AHEAD = 16;

template <class F>
inline void prefetch_row(const F* row, idx n) {
  for (idx c = 0; c < n; c += 64 / sizeof(F)) __builtin_prefetch(row + c);
}

template <class F, bool Stats>
inline void forward_row(idx d, F* row, const F* c_e, const F* __restrict dx,  // c_e may be row itself
                        const F* __restrict bx, const F* __restrict ex, F sk, F* __restrict sigma_sum,
                        F* __restrict gated_sum, double* __restrict s1, double* __restrict s2) {
  for (idx c = 0; c < d; ++c) {
    const F v = c_e[c] + dx[c] + ex[c];
    row[c] = v;
    const F sg = sigmoid(v);
    sigma_sum[c] += sg;
    gated_sum[c] += sg * bx[c];
    if (Stats) {
      const double z = static_cast<double>(sk * v);
      s1[c] += z;
      s2[c] += z * z;
    }
  }
}

// ê_k = C e_k + D x_j + E x_i written to eh: C e_k is eh_k on entry, or with c_b given (no edge state) c_b, the same
// row for every edge (eh is then written, not read); for the receiver i:
// sigma_sum_i += σ(ê_k), gated_sum_i += σ(ê_k) ⊙ B x_j; per unit u: moments[u] += [Σ z | Σ z²], z = s_k ê_k (moments
// null: no statistics; e' is not normalised by the batch's).
// (The caller zeroes the sums and may call this on consecutive chunks of the edges.)
template <class F, bool Stats>
void forward(idx E, idx d, F* __restrict eh, const F* __restrict c_b, const F* __restrict Dx, const F* __restrict Bx,
             const F* __restrict Ex, idx ld, const idx* __restrict j, const idx* __restrict i, const F* __restrict scale, int T,
             int U, F* __restrict sigma_sum, F* __restrict gated_sum, double* __restrict moments) {
  const Owners owner(E, i, U);
  run_units(T, U, [=](int u) {
    const Owners::Range mine = owner.of(u);
    double* __restrict s1 = Stats ? moments + 2 * d * u : nullptr;
    double* __restrict s2 = Stats ? s1 + d : nullptr;
    for (idx k = 0; k < E; ++k) {
      if (k + AHEAD < E && mine.owns(i[k + AHEAD])) {
        if (!c_b) prefetch_row(eh + (k + AHEAD) * d, d);
        prefetch_row(Dx + j[k + AHEAD] * ld, d);
        prefetch_row(Bx + j[k + AHEAD] * ld, d);
        prefetch_row(Ex + i[k + AHEAD] * ld, d);
        prefetch_row(sigma_sum + i[k + AHEAD] * d, d);
        prefetch_row(gated_sum + i[k + AHEAD] * d, d);
      }
      const idx r = i[k];
      if (!mine.owns(r)) continue;
      F* __restrict row = eh + k * d;
      const F* __restrict dx = Dx + j[k] * ld;
      const F* __restrict bx = Bx + j[k] * ld;
      const F* __restrict ex = Ex + r * ld;
      forward_row<F, Stats>(d, row, c_b ? c_b : row, dx, bx, ex, scale ? scale[k] : F(1), sigma_sum + r * d,
                            gated_sum + r * d, s1, s2);
    }
  });
}

// Even split of the edges [0, E) into U ranges.
inline idx split(idx E, int U, int u) { return E * u / U; }

// out_k = [res_k +] ReLU(w ⊙ s_k ê_k + b).
template <class F>
void norm(idx E, idx d, const F* __restrict eh, const F* __restrict scale, const F* __restrict w, const F* __restrict b,
          const F* __restrict res, F* __restrict out, int T, int U) {
  run_units(T, U, [=](int u) {
    for (idx k = split(E, U, u); k < split(E, U, u + 1); ++k) {
      const F* __restrict row = eh + k * d;
      F* __restrict o = out + k * d;
      const F sk = scale ? scale[k] : F(1);
      for (idx c = 0; c < d; ++c) {
        const F y = w[c] * (sk * row[c]) + b[c];
        o[c] = y < F(0) ? F(0) : y;  // NaN stays NaN, as torch.relu
      }
      if (res) {
        const F* __restrict rr = res + k * d;
        for (idx c = 0; c < d; ++c) o[c] += rr[c];
      }
    }
  });
}

// Backward's first sweep, over consecutive edges [0, E) of a chunk: ê_k = C e_k + D x_j + E x_i written into eh
// (C e_k is eh_k on entry, or c_b where given: backward recomputes ê), or with Dx null, eh is forward's ê, read and
// not written;
// and where g is given
// per unit u: sums[u] += [Σ g_r | Σ g_r ⊙ z] over its range of edges, g_r = g ⊙ [w ⊙ z + b > 0], z = s_k ê_k
// (g's rows gs apart: d, or 0 for one row broadcast over the edges).  Each unit owns a range of edges: no node row
// is written, so any split will do.
template <class F>
void backward_states(idx E, idx d, F* __restrict eh, const F* __restrict c_b, const F* __restrict Dx,
                     const F* __restrict Ex, idx ld,
                     const idx* __restrict j, const idx* __restrict i, const F* __restrict scale, const F* __restrict w,
                     const F* __restrict b, const F* __restrict g, idx gs, int T, int U, double* __restrict sums) {
  run_units(T, U, [=](int u) {
    double* __restrict s1 = g ? sums + 2 * d * u : nullptr;
    double* __restrict s2 = g ? s1 + d : nullptr;
    const idx last = split(E, U, u + 1);
    for (idx k = split(E, U, u); k < last; ++k) {
      F* __restrict row = eh + k * d;
      if (Dx) {
        if (k + AHEAD < last) {
          prefetch_row(Dx + j[k + AHEAD] * ld, d);
          prefetch_row(Ex + i[k + AHEAD] * ld, d);
        }
        const F* __restrict dx = Dx + j[k] * ld;
        const F* __restrict ex = Ex + i[k] * ld;
        if (c_b) {
          for (idx c = 0; c < d; ++c) row[c] = c_b[c] + dx[c] + ex[c];
        } else {
          for (idx c = 0; c < d; ++c) row[c] += dx[c] + ex[c];
        }
      }
      if (!g) continue;
      const F* __restrict gk = g + k * gs;
      const F sk = scale ? scale[k] : F(1);
      for (idx c = 0; c < d; ++c) {
        const F z = sk * row[c];
        const F gr = w[c] * z + b[c] > F(0) ? gk[c] : F(0);
        s1[c] += static_cast<double>(gr);
        s2[c] += static_cast<double>(gr * z);
      }
    }
  });
}

template <class F, bool HasG, bool HasGh>
inline void backward_row(idx d, const F* __restrict row, const F* __restrict bx, const F* __restrict p, const F* __restrict q,
                         F sk, const F* __restrict gk, const F* __restrict w, const F* __restrict b, const F* __restrict c1,
                         const F* __restrict c2, const F* __restrict ghk, F* __restrict out, F* __restrict dex,
                         double* __restrict cb) {
  for (idx c = 0; c < d; ++c) {
    const F v = row[c];
    const F sg = sigmoid(v);
    F dh = (p[c] * bx[c] - q[c]) * (sg - sg * sg);
    if (HasG) {
      const F z = sk * v;
      const F gr = w[c] * z + b[c] > F(0) ? gk[c] : F(0);
      dh += (gr * w[c] - c1[c] - z * c2[c]) * sk;
    }
    if (HasGh) dh += ghk[c];
    out[c] = dh;
    dex[c] += dh;
    cb[c] += static_cast<double>(dh);
  }
}

// ∂ê_k = (P_i ⊙ B x_j − Q_i) ⊙ σ(1 − σ)  [through m]
//      + s_k (w ⊙ g_r − c1 − c2 ⊙ z)     [through e', if g is given]
//      + gh_k                             [through ê, if gh is given]
// written to deh; ∂Ex_i += ∂ê_k for the receiver; per unit u: dCb[u] += Σ ∂ê_k.  g's rows are gs apart (d, or 0:
// one row broadcast over the edges); gh is [E, d], contiguous.
template <class F, bool HasG, bool HasGh>
void backward_receivers(idx E, idx d, const F* __restrict eh, const F* __restrict Bx, idx ld, const F* __restrict PQ,
                        const idx* __restrict j, const idx* __restrict i, const F* __restrict scale, const F* __restrict g,
                        idx gs, const F* __restrict w, const F* __restrict b, const F* __restrict c1, const F* __restrict c2,
                        const F* __restrict gh, int T, int U, F* __restrict deh, F* __restrict dEx,
                        double* __restrict dCb) {
  const Owners owner(E, i, U);
  run_units(T, U, [=](int u) {
    const Owners::Range mine = owner.of(u);
    double* __restrict cb = dCb + d * u;
    for (idx k = 0; k < E; ++k) {
      if (k + AHEAD < E && mine.owns(i[k + AHEAD])) {
        prefetch_row(eh + (k + AHEAD) * d, d);
        prefetch_row(Bx + j[k + AHEAD] * ld, d);
        prefetch_row(PQ + i[k + AHEAD] * 2 * d, 2 * d);
        prefetch_row(dEx + i[k + AHEAD] * d, d);
      }
      const idx r = i[k];
      if (!mine.owns(r)) continue;
      const F* __restrict row = eh + k * d;
      const F* __restrict bx = Bx + j[k] * ld;
      const F* __restrict p = PQ + r * 2 * d;
      const F* __restrict q = p + d;
      const F* __restrict gk = HasG ? g + k * gs : nullptr;
      const F* __restrict ghk = HasGh ? gh + k * d : nullptr;
      F* __restrict out = deh + k * d;
      F* __restrict dex = dEx + r * d;
      backward_row<F, HasG, HasGh>(d, row, bx, p, q, scale ? scale[k] : F(1), gk, w, b, c1, c2, ghk, out, dex, cb);
    }
  });
}

template <class F>
inline void senders_row(idx d, const F* __restrict row, const F* __restrict dh, const F* __restrict p,
                        F* __restrict dd, F* __restrict db) {
  for (idx c = 0; c < d; ++c) {
    dd[c] += dh[c];
    db[c] += sigmoid(row[c]) * p[c];
  }
}

// For the sender j: ∂Dx_j += ∂ê_k, ∂Bx_j += σ(ê_k) ⊙ P_i.
template <class F>
void backward_senders(idx E, idx d, const F* __restrict eh, const F* __restrict deh, const F* __restrict PQ,
                      const idx* __restrict j, const idx* __restrict i, int T, int U, F* __restrict dDx,
                      F* __restrict dBx) {
  const Owners owner(E, j, U);
  run_units(T, U, [=](int u) {
    const Owners::Range mine = owner.of(u);
    for (idx k = 0; k < E; ++k) {
      if (k + AHEAD < E && mine.owns(j[k + AHEAD])) {
        prefetch_row(eh + (k + AHEAD) * d, d);
        prefetch_row(deh + (k + AHEAD) * d, d);
        prefetch_row(PQ + i[k + AHEAD] * 2 * d, d);
        prefetch_row(dDx + j[k + AHEAD] * d, d);
        prefetch_row(dBx + j[k + AHEAD] * d, d);
      }
      const idx s = j[k];
      if (!mine.owns(s)) continue;
      senders_row(d, eh + k * d, deh + k * d, PQ + i[k] * 2 * d, dDx + s * d, dBx + s * d);
    }
  });
}

template <class F>
void backward_receivers_any(idx E, idx d, const F* eh, const F* Bx, idx ld, const F* PQ, const idx* j, const idx* i,
                            const F* scale, const F* g, idx gs, const F* w, const F* b, const F* c1, const F* c2,
                            const F* gh, int T, int U, F* deh, F* dEx, double* dCb) {
  if (g && gh)
    backward_receivers<F, true, true>(E, d, eh, Bx, ld, PQ, j, i, scale, g, gs, w, b, c1, c2, gh, T, U, deh, dEx, dCb);
  else if (g)
    backward_receivers<F, true, false>(E, d, eh, Bx, ld, PQ, j, i, scale, g, gs, w, b, c1, c2, gh, T, U, deh, dEx, dCb);
  else if (gh)
    backward_receivers<F, false, true>(E, d, eh, Bx, ld, PQ, j, i, scale, g, gs, w, b, c1, c2, gh, T, U, deh, dEx, dCb);
  else
    backward_receivers<F, false, false>(E, d, eh, Bx, ld, PQ, j, i, scale, g, gs, w, b, c1, c2, gh, T, U, deh, dEx, dCb);
}

}  // namespace

#define GATED_EXPORTS(F, SUFFIX)                                                                                    \
  extern "C" void gated_forward_##SUFFIX(idx E, idx d, F* eh, const F* c_b, const F* Dx, const F* Bx, const F* Ex,  \
                                         idx ld, const idx* j, const idx* i, const F* scale, int T, int U,         \
                                         F* sigma_sum, F* gated_sum, double* moments) {                            \
    if (moments)                                                                                                    \
      forward<F, true>(E, d, eh, c_b, Dx, Bx, Ex, ld, j, i, scale, T, U, sigma_sum, gated_sum, moments);            \
    else                                                                                                            \
      forward<F, false>(E, d, eh, c_b, Dx, Bx, Ex, ld, j, i, scale, T, U, sigma_sum, gated_sum, moments);           \
  }                                                                                                                 \
  extern "C" void gated_norm_##SUFFIX(idx E, idx d, const F* eh, const F* scale, const F* w, const F* b,           \
                                      const F* res, F* out, int T, int U) {                                         \
    norm<F>(E, d, eh, scale, w, b, res, out, T, U);                                                                 \
  }                                                                                                                 \
  extern "C" void gated_backward_states_##SUFFIX(idx E, idx d, F* eh, const F* c_b, const F* Dx, const F* Ex,    \
                                                 idx ld, const idx* j, const idx* i, const F* scale, const F* w,   \
                                                 const F* b, const F* g, idx gs, int T, int U, double* sums) {     \
    backward_states<F>(E, d, eh, c_b, Dx, Ex, ld, j, i, scale, w, b, g, gs, T, U, sums);                            \
  }                                                                                                                 \
  extern "C" void gated_backward_receivers_##SUFFIX(idx E, idx d, const F* eh, const F* Bx, idx ld, const F* PQ,  \
                                                    const idx* j, const idx* i, const F* scale, const F* g, idx gs,\
                                                    const F* w, const F* b, const F* c1, const F* c2, const F* gh, \
                                                    int T, int U, F* deh, F* dEx, double* dCb) {                   \
    backward_receivers_any<F>(E, d, eh, Bx, ld, PQ, j, i, scale, g, gs, w, b, c1, c2, gh, T, U, deh, dEx, dCb);             \
  }                                                                                                                 \
  extern "C" void gated_backward_senders_##SUFFIX(idx E, idx d, const F* eh, const F* deh, const F* PQ,           \
                                                  const idx* j, const idx* i, int T, int U, F* dDx, F* dBx) {      \
    backward_senders<F>(E, d, eh, deh, PQ, j, i, T, U, dDx, dBx);                                                       \
  }

GATED_EXPORTS(float, f32)
GATED_EXPORTS(double, f64)

// The argument types of every export, read off the functions themselves ('p' pointer, 'q' 64-bit integer,
// 'i' int): the loader (gatedgcn/ops/_native.py) checks its one declaration of the interface against them.
namespace {

template <class T>
constexpr char code() {
  return std::is_pointer<T>::value ? 'p' : (sizeof(T) == 8 ? 'q' : 'i');
}

template <class... A>
const char* signature_of(void (*)(A...)) {
  static const char s[] = {code<A>()..., '\0'};
  return s;
}

struct Export {
  const char* name;
  const char* signature;
};

#define GATED_SIGNATURES(SUFFIX)                                                           \
  {"gated_forward_" #SUFFIX, signature_of(&gated_forward_##SUFFIX)},                       \
      {"gated_norm_" #SUFFIX, signature_of(&gated_norm_##SUFFIX)},                         \
      {"gated_backward_states_" #SUFFIX, signature_of(&gated_backward_states_##SUFFIX)},   \
      {"gated_backward_receivers_" #SUFFIX, signature_of(&gated_backward_receivers_##SUFFIX)}, \
      {"gated_backward_senders_" #SUFFIX, signature_of(&gated_backward_senders_##SUFFIX)}

}  // namespace

// The signature of the export ``name``, or null for an unknown name.
extern "C" const char* gatedgcn_signature(const char* name) {
  static const Export exports[] = {GATED_SIGNATURES(f32), GATED_SIGNATURES(f64)};
  for (const Export& x : exports)
    if (std::strcmp(x.name, name) == 0) return x.signature;
  return nullptr;
}
