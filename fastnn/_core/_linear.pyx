"""The delta rule (LMS, Widrow-Hoff) for one layer of linear units, one epoch per call.

For each sample i (in the order given) and each output k:

    y_k   = intercept[k] + sum_j X[i, j] coef[j, k]
    e_k   = t[i, k] - y_k
    coef[j, k] += lr e_k X[i, j],   intercept[k] += lr e_k          (batch_size = 1, online)

With batch_size = m > 1 the errors of m consecutive samples (of the order) are computed with
the same weights and the update is their mean: coef[j, k] += lr mean_batch(e_k X[i, j]).

All outputs are updated at once (one-vs-rest Adaline is n_outputs independent units sharing
X). The loop is serial (the online rule is sequential by nature), runs without the GIL and
allocates nothing: the batch accumulators live in a scratch buffer passed in. Dot products,
accumulators and the loss are summed in double; the weights keep the dtype of X.

The Python estimators (fastnn/linear.py) own every check; the kernel never raises.
"""
from fastnn._core._typedefs cimport floating


cdef inline double _errors(const floating[:, ::1] X, const floating[:, ::1] t, Py_ssize_t i,
                           const floating[:, ::1] coef, const floating[::1] intercept,
                           double[:, ::1] scratch, Py_ssize_t err_row) noexcept nogil:
    """e = t[i] - (X[i] coef + intercept) with the current weights, into scratch[err_row];
    returns sum_k 0.5 e_k^2. Products are summed in double."""
    cdef Py_ssize_t j, k, n_outputs = t.shape[1]
    cdef double e, half_sq = 0.0
    cdef floating xij
    for k in range(n_outputs):
        scratch[err_row, k] = intercept[k]
    for j in range(X.shape[1]):
        xij = X[i, j]
        for k in range(n_outputs):
            scratch[err_row, k] += <double> xij * coef[j, k]
    for k in range(n_outputs):
        e = <double> t[i, k] - scratch[err_row, k]
        scratch[err_row, k] = e
        half_sq += 0.5 * e * e
    return half_sq


cdef double _lms_epoch(const floating[:, ::1] X, const floating[:, ::1] t,
                       const Py_ssize_t[::1] order, floating[:, ::1] coef,
                       floating[::1] intercept, double lr, Py_ssize_t batch_size,
                       double[:, ::1] scratch) noexcept nogil:
    """One epoch; returns mean over samples and outputs of 0.5 e^2 (weights before each
    update). scratch: (n_features + 2, n_outputs) doubles: rows 0..n_features-1 accumulate
    e x, row n_features accumulates e, row n_features + 1 holds the current errors."""
    cdef Py_ssize_t n_samples = order.shape[0], n_features = X.shape[1]
    cdef Py_ssize_t n_outputs = t.shape[1]
    cdef Py_ssize_t s, start, stop, i, j, k
    cdef Py_ssize_t err_row = n_features + 1, icpt_row = n_features
    cdef double step, total = 0.0
    cdef floating xij

    if n_samples == 0 or n_outputs == 0:
        return 0.0
    if batch_size < 1:
        batch_size = 1

    if batch_size == 1:
        for s in range(n_samples):
            i = order[s]
            total += _errors(X, t, i, coef, intercept, scratch, err_row)
            for k in range(n_outputs):
                scratch[err_row, k] = lr * scratch[err_row, k]
            for j in range(n_features):
                xij = X[i, j]
                for k in range(n_outputs):
                    coef[j, k] = <floating> (coef[j, k] + scratch[err_row, k] * xij)
            for k in range(n_outputs):
                intercept[k] = <floating> (intercept[k] + scratch[err_row, k])
        return total / (<double> n_samples * n_outputs)

    start = 0
    while start < n_samples:
        stop = min(start + batch_size, n_samples)
        for j in range(n_features + 1):
            for k in range(n_outputs):
                scratch[j, k] = 0.0
        for s in range(start, stop):
            i = order[s]
            total += _errors(X, t, i, coef, intercept, scratch, err_row)
            for k in range(n_outputs):
                scratch[icpt_row, k] += scratch[err_row, k]
            for j in range(n_features):
                xij = X[i, j]
                for k in range(n_outputs):
                    scratch[j, k] += scratch[err_row, k] * xij
        step = lr / <double> (stop - start)
        for j in range(n_features):
            for k in range(n_outputs):
                coef[j, k] = <floating> (coef[j, k] + step * scratch[j, k])
        for k in range(n_outputs):
            intercept[k] = <floating> (intercept[k] + step * scratch[icpt_row, k])
        start = stop
    return total / (<double> n_samples * n_outputs)


def lms_epoch(const floating[:, ::1] X, const floating[:, ::1] y, const Py_ssize_t[::1] order,
              floating[:, ::1] coef, floating[::1] intercept, double lr,
              Py_ssize_t batch_size, double[:, ::1] scratch):
    """One epoch of the delta rule over X[order]; coef and intercept are updated in place.

    X (n_samples, n_features), y (n_samples, n_outputs), coef (n_features, n_outputs) and
    intercept (n_outputs,) share one float dtype; order is an intp array of row indices in
    [0, n_samples); scratch is a float64 (n_features + 2, n_outputs) buffer. The caller
    validates shapes and indices. Returns the epoch's mean of 0.5 (t - y)^2, each term
    computed with the weights before the update it contributes to.
    """
    cdef double loss
    with nogil:
        loss = _lms_epoch(X, y, order, coef, intercept, lr, batch_size, scratch)
    return loss
