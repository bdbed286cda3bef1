# In-place optimizer updates and gradient clipping over flat, contiguous buffers.
#
# Every function here is one chunked OpenMP pass over n elements (see _openmp.pxd): params
# and the state buffers are read and written in place, grads is only read; nothing is
# allocated. Element-wise updates give bitwise identical results for any n_threads.
#
# Hyper-parameters arrive as double and are rounded once to the buffers' type, as torch does
# with Python-float hyper-parameters. Scalars that depend only on the step count (bias
# corrections, NAdam's coefficients, AdaGrad's decayed lr) are computed by the caller in
# double (fastnn.optimizers does it exactly as torch.optim's single-tensor code path).
# State buffers must start as zeros (AdaGrad's sum: initial_accumulator_value).
#
# The network calls these directly from Cython on its parameter and gradient buffers;
# fastnn.optimizers wraps them for Python. _optim_avx2.pxd / _optim_avx512.pxd declare the
# same functions for the AVX2 / AVX-512 builds of the module (same results to the bit).

from fastnn._core._typedefs cimport floating


cdef enum NormType:
    NORM_L1 = 1
    NORM_L2 = 2
    NORM_INF = 3


# SGD, with optional momentum / Nesterov (torch.optim.SGD). momentum_buffer is unused (may be
# NULL) when momentum == 0; first_step makes the buffer a copy of the gradient, as torch does
# at the first step (no dampening then).
cdef void sgd_update(floating* params, const floating* grads, floating* momentum_buffer,
                     Py_ssize_t n, double lr, double momentum, double dampening,
                     double weight_decay, bint nesterov, bint first_step,
                     int n_threads) noexcept nogil

# AdaGrad (torch.optim.Adagrad); clr = lr / (1 + (t - 1) * lr_decay).
cdef void adagrad_update(floating* params, const floating* grads, floating* state_sum,
                         Py_ssize_t n, double clr, double weight_decay, double eps,
                         int n_threads) noexcept nogil

# RMSprop (torch.optim.RMSprop). grad_avg is used only when centered, momentum_buffer only
# when momentum > 0 (either may be NULL otherwise).
cdef void rmsprop_update(floating* params, const floating* grads, floating* square_avg,
                         floating* grad_avg, floating* momentum_buffer, Py_ssize_t n,
                         double lr, double alpha, double eps, double weight_decay,
                         double momentum, bint centered, int n_threads) noexcept nogil

# Adadelta (torch.optim.Adadelta).
cdef void adadelta_update(floating* params, const floating* grads, floating* square_avg,
                          floating* acc_delta, Py_ssize_t n, double lr, double rho,
                          double eps, double weight_decay, int n_threads) noexcept nogil

# Adam / AdamW (torch.optim.Adam, AdamW = decoupled_weight_decay). step_size = lr / (1 -
# beta1**t), bias_correction2_sqrt = (1 - beta2**t) ** 0.5. max_exp_avg_sq != NULL selects
# AMSGrad.
cdef void adam_update(floating* params, const floating* grads, floating* exp_avg,
                      floating* exp_avg_sq, floating* max_exp_avg_sq, Py_ssize_t n,
                      double lr, double beta1, double beta2, double eps,
                      double weight_decay, bint decoupled_weight_decay, double step_size,
                      double bias_correction2_sqrt, int n_threads) noexcept nogil

# NAdam (torch.optim.NAdam): p += grad_coef * g / denom + exp_avg_coef * m / denom with
# denom = sqrt(v / bias_correction2) + eps; grad_coef = -lr (1 - mu_t) / (1 - prod mu),
# exp_avg_coef = -lr mu_{t+1} / (1 - mu_{t+1} prod mu).
cdef void nadam_update(floating* params, const floating* grads, floating* exp_avg,
                       floating* exp_avg_sq, Py_ssize_t n, double beta1, double beta2,
                       double eps, double weight_decay, double grad_coef,
                       double exp_avg_coef, double bias_correction2,
                       int n_threads) noexcept nogil

# The norm of grads (NORM_L2: sqrt of the sum of squares; NORM_L1: sum of |g|; NORM_INF:
# max |g|), accumulated in double, chunk by chunk into partials (n_chunks(n) slots) and then
# in chunk order: the same value for any n_threads.
cdef double grad_norm(const floating* grads, Py_ssize_t n, NormType norm_type,
                      double* partials, int n_threads) noexcept nogil

# grads *= coef (rounded to the buffer's type).
cdef void scale(floating* grads, Py_ssize_t n, double coef, int n_threads) noexcept nogil

# grads clamped to [-clip_value, clip_value]; NaN stays NaN.
cdef void clip_by_value(floating* grads, Py_ssize_t n, double clip_value,
                        int n_threads) noexcept nogil

cdef Py_ssize_t n_chunks(Py_ssize_t n) noexcept nogil
