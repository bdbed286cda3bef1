# Value and gradient of every loss in one fused pass (see _losses.pyx for the formulas).
#
# For other Cython modules (the network): cimport LossKind and the two entry points below.
# Both return the loss value (a double) and, when grad is not NULL, write d value / d y_pred
# into grad. They never raise: any invalid input value (NaN or inf, a probability outside
# [0, 1], a negative count, weight or class weight, a label out of range, hinge labels that
# mix 0 and -1, a zero total weight) makes the returned value NaN. A caller that has not
# validated its data checks the value and, when it is not finite, looks for the reason
# (fastnn.losses does exactly that); a non-finite value for valid input is a genuine overflow.

from libc.stdint cimport int64_t

from fastnn._core._typedefs cimport floating

cpdef enum LossKind:
    # Element-wise: y_true and y_pred have the same shape (n_samples, n_outputs).
    MSE = 0
    MAE = 1
    HUBER = 2              # p0 = delta
    PSEUDO_HUBER = 3       # p0 = delta
    LOG_COSH = 4
    POISSON = 5
    BINARY_CE = 6
    SIGMOID_CE = 7         # column_weight = pos_weight (one per output) or NULL
    HINGE = 8
    FOCAL = 9              # p0 = alpha (< 0: no balancing), p1 = gamma
    CATEGORICAL_CE = 10    # distribution losses: sum over outputs, mean over samples
    KL_DIVERGENCE = 11
    # Row-wise, logits y_pred (n_samples, n_classes): softmax cross-entropy with dense
    # targets (one-hot or probabilities), column_weight = class weight or NULL.
    SOFTMAX_CE = 12
    # Integer labels (n_samples,) and y_pred (n_samples, n_classes).
    SPARSE_CE = 13         # probabilities
    SOFTMAX_CE_LABELS = 14 # logits; column_weight = class weight or NULL


# y_true, y_pred, grad: C-contiguous (n_samples, n_outputs) buffers (for the element-wise
# kinds without sample_weight and column_weight any common memory order works: the kernel
# walks them as flat arrays). sample_weight: n_samples values or NULL. grad: NULL for the
# value alone; it must not overlap y_true or y_pred (a loop may write an intermediate into
# grad before it has read all of y_pred).
cdef double loss_dense(LossKind kind, const floating* y_true, const floating* y_pred,
                       floating* grad, Py_ssize_t n_samples, Py_ssize_t n_outputs,
                       const floating* sample_weight, const floating* column_weight,
                       double p0, double p1, int n_threads) noexcept nogil

# labels: n_samples int64 class indices; y_pred, grad: C-contiguous (n_samples, n_classes).
cdef double loss_labels(LossKind kind, const int64_t* labels, const floating* y_pred,
                        floating* grad, Py_ssize_t n_samples, Py_ssize_t n_classes,
                        const floating* sample_weight, const floating* column_weight,
                        int n_threads) noexcept nogil
