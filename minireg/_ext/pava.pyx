# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled OWL and GrOWL proximal operators.

The readable twins are ``owl_prox_numpy``, ``growl_prox_numpy`` and
``isotonic_nonincreasing_numpy`` in ``minireg/kernels/pava.py``; read those first. Call
these functions through ``minireg.kernels.owl_prox`` / ``growl_prox`` /
``isotonic_nonincreasing``, which check types, shapes, ``eta`` and ``out`` (this module
assumes C-contiguous arrays of one length, fewer than 2**31 entries, and an ``out`` that
is the input itself or does not overlap it). The values are checked here, on the way,
because the first pass over the data finds them for free: a non-finite input (or row
norm) or invalid weights are reported by a status code before anything is written to
``out``, and ``minireg.kernels`` turns the code into an error.

The OWL prox of ``eta * Omega_lam`` at ``z`` (GrOWL, Appendix A, Algorithm 2; Bogdan et
al. 2015) is computed in three steps, all without the GIL:

1. **Sort the magnitudes.** A magnitude ``|z_i|`` is a non-negative float, and the bit
   pattern of a non-negative IEEE-754 float, read as an unsigned integer, orders exactly
   like the float. So we sort the integers ``bits(|z_i|)`` (uint64 for float64, uint32
   for float32) with a most-significant-digit radix sort: a counting pass splits the
   keys into buckets by their highest varying bits (16, 11 or 8 of them, more for
   larger inputs), each bucket is split again the same way, and buckets of at most 32
   keys are finished by insertion sort. Inputs under 4096 entries are first split into
   256 buckets by value instead (see ``sort_magnitudes``). Each key travels with a
   32-bit *tag*: the index ``i`` in the low 31 bits and the sign of ``z_i`` in the top
   bit, so the scatter never has to read ``z`` again.
2. **Pool adjacent violators** (PAVA) on ``v_k = |z|_(k) - eta * lam_k``, where
   ``|z|_(k)`` is the k-th largest magnitude: the least-squares non-increasing fit of
   ``v``, clipped at zero.
3. **Scatter** each fitted value to position ``i``, with the sign of ``z_i``.

The GrOWL prox of a matrix's rows (GrOWL, eq. (8)) runs the row norms, this OWL prox of
the norms, and the rescaling of each row in one call.

Work buffers come from NumPy, and the last one is kept for the next call of the same or
a smaller size: fresh pages of a large buffer would be faulted in again on every call.
"""
import numpy as np

from cython cimport floating
from libc.math cimport INFINITY, sqrt
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy, memset

ctypedef fused key_t:
    uint32_t
    uint64_t

cdef enum:
    # A bucket of at most this many keys is finished by insertion sort.
    INSERTION_SORT_SIZE = 32
    # Inputs of up to this many keys are first split by value (sort_magnitudes).
    VALUE_BUCKETING_LIMIT = 4095
    VALUE_BUCKETS = 256
    # The digit width of a radix-sort level, by the number of keys it splits.
    HUGE_BUCKET = 1 << 18
    HUGE_DIGIT_BITS = 16
    LARGE_BUCKET = 4096
    LARGE_DIGIT_BITS = 11
    SMALL_DIGIT_BITS = 8
    # A level with d-bit digits uses 2 * 2**d counters and passes the rest to the levels
    # below. Only the first level can have 16-bit digits; every level consumes at least
    # 8 bits of a key of at most 63 significant bits, so 9 levels suffice (10 for margin).
    COUNTER_ENTRIES = (2 << 16) + 10 * (2 << 11)
    INDEX_MASK = 0x7FFFFFFF
    # Workspaces up to this many entries (44 bytes each, so at most 46 MB) are kept for
    # the next call; larger ones are freed.
    LARGEST_KEPT_WORKSPACE = 1 << 20
    # What owl_prox_core reports (minireg/kernels/__init__.py turns these into error messages).
    STATUS_OK = 0
    STATUS_INPUT_NOT_FINITE = 1
    STATUS_WEIGHTS_NOT_FINITE = 2
    STATUS_WEIGHTS_INCREASING = 3
    STATUS_WEIGHTS_NEGATIVE = 4

cdef double SIGN_OF_TAG[2]
SIGN_OF_TAG[0] = 1.0
SIGN_OF_TAG[1] = -1.0


# ---------------------------------------------------------------------------------------
# Step 1: sorting (key, tag) pairs by key
# ---------------------------------------------------------------------------------------

cdef inline double key_to_double(key_t key) noexcept nogil:
    """The magnitude whose bit pattern is ``key`` (uint64: a double, uint32: a float)."""
    cdef double as_double
    cdef float as_float
    if key_t is uint64_t:
        memcpy(&as_double, &key, 8)
        return as_double
    else:
        memcpy(&as_float, &key, 4)
        return as_float


cdef void insertion_sort(key_t* keys, uint32_t* tags, Py_ssize_t n) noexcept nogil:
    """Stable ascending sort of a few keys, moving their tags along."""
    cdef Py_ssize_t i, j
    cdef key_t key
    cdef uint32_t tag
    for i in range(1, n):
        key = keys[i]
        tag = tags[i]
        j = i
        while j > 0 and keys[j - 1] > key:
            keys[j] = keys[j - 1]
            tags[j] = tags[j - 1]
            j -= 1
        keys[j] = key
        tags[j] = tag


cdef void radix_sort(key_t* keys, uint32_t* tags, key_t* spare_keys, uint32_t* spare_tags,
                     Py_ssize_t n, uint32_t* counters, bint first_level) noexcept nogil:
    """Stable ascending most-significant-digit radix sort of ``keys``, tags along.

    ``spare_keys`` / ``spare_tags`` are scratch space of ``n`` entries; ``counters``
    has room for the counters of this level and all the levels below it (see
    COUNTER_ENTRIES: only the first level may use 16-bit digits).
    """
    cdef key_t any_bits = 0, all_bits = <key_t>(-1), varying, key, digit_mask
    cdef Py_ssize_t i
    cdef int top_bit, digit_bits, shift
    cdef uint32_t digit, n_digits, running, position
    cdef uint32_t* next_slot
    cdef uint32_t* bucket_start
    if n <= INSERTION_SORT_SIZE:
        insertion_sort(keys, tags, n)
        return
    # The bits that differ between keys; the bits above them are common to all keys.
    for i in range(n):
        any_bits |= keys[i]
        all_bits &= keys[i]
    varying = any_bits ^ all_bits
    if varying == 0:
        return  # all keys are equal
    top_bit = 0
    while (varying >> top_bit) > 1:
        top_bit += 1
    # The digit: the digit_bits bits that end at the highest varying bit.
    if first_level and n >= HUGE_BUCKET:
        digit_bits = HUGE_DIGIT_BITS
    elif n >= LARGE_BUCKET:
        digit_bits = LARGE_DIGIT_BITS
    else:
        digit_bits = SMALL_DIGIT_BITS
    if digit_bits > top_bit + 1:
        digit_bits = top_bit + 1
    shift = top_bit + 1 - digit_bits
    n_digits = 1u << digit_bits
    digit_mask = <key_t>(n_digits - 1)
    next_slot = counters
    bucket_start = counters + n_digits
    # Count the keys of each digit, then give each digit its first output slot.
    memset(next_slot, 0, n_digits * sizeof(uint32_t))
    for i in range(n):
        next_slot[<uint32_t>((keys[i] >> shift) & digit_mask)] += 1
    running = 0
    for digit in range(n_digits):
        bucket_start[digit] = running
        running += next_slot[digit]
        next_slot[digit] = bucket_start[digit]
    # Move every pair to its bucket (in spare), then back, and sort each bucket.
    for i in range(n):
        key = keys[i]
        digit = <uint32_t>((key >> shift) & digit_mask)
        position = next_slot[digit]
        next_slot[digit] = position + 1
        spare_keys[position] = key
        spare_tags[position] = tags[i]
    memcpy(keys, spare_keys, n * sizeof(key_t))
    memcpy(tags, spare_tags, n * sizeof(uint32_t))
    for digit in range(n_digits):
        position = bucket_start[digit]
        if next_slot[digit] - position > 1:
            radix_sort(keys + position, tags + position, spare_keys + position,
                       spare_tags + position, next_slot[digit] - position,
                       counters + 2 * n_digits, False)


cdef void sort_magnitudes(key_t* keys, uint32_t* tags, key_t* spare_keys, uint32_t* spare_tags,
                          Py_ssize_t n, uint32_t* counters) noexcept nogil:
    """Stable ascending sort of the magnitude keys, tags along.

    Up to VALUE_BUCKETING_LIMIT keys, the first split is by value rather than by bits:
    bucket = floor((|z| - min) / (max - min) * 256), a non-decreasing function of |z|.
    The magnitudes of real data crowd into a few exponents, so the top bits of their
    keys hardly split them while their values spread over all buckets; each bucket is
    then finished by ``radix_sort``. Larger inputs go to ``radix_sort`` directly.
    """
    cdef key_t smallest, largest, key
    cdef double low, factor, position_in_range
    cdef uint32_t digit, running, slot
    cdef uint32_t last_digit = VALUE_BUCKETS - 1
    cdef uint32_t* next_slot = counters
    cdef uint32_t* bucket_start = counters + VALUE_BUCKETS
    cdef Py_ssize_t i
    if n <= INSERTION_SORT_SIZE or n > VALUE_BUCKETING_LIMIT:
        radix_sort(keys, tags, spare_keys, spare_tags, n, counters, True)
        return
    smallest = keys[0]
    largest = keys[0]
    for i in range(n):
        if keys[i] < smallest:
            smallest = keys[i]
        if keys[i] > largest:
            largest = keys[i]
    if smallest == largest:
        return
    low = key_to_double(smallest)
    factor = VALUE_BUCKETS / (key_to_double(largest) - low)
    if not (factor < INFINITY):  # a range too small to divide by: split by bits
        radix_sort(keys, tags, spare_keys, spare_tags, n, counters, True)
        return
    memset(next_slot, 0, VALUE_BUCKETS * sizeof(uint32_t))
    for i in range(n):
        position_in_range = (key_to_double(keys[i]) - low) * factor
        digit = <uint32_t>position_in_range if position_in_range < last_digit else last_digit
        next_slot[digit] += 1
    running = 0
    for digit in range(<uint32_t>VALUE_BUCKETS):
        bucket_start[digit] = running
        running += next_slot[digit]
        next_slot[digit] = bucket_start[digit]
    for i in range(n):
        key = keys[i]
        position_in_range = (key_to_double(key) - low) * factor
        digit = <uint32_t>position_in_range if position_in_range < last_digit else last_digit
        slot = next_slot[digit]
        next_slot[digit] = slot + 1
        spare_keys[slot] = key
        spare_tags[slot] = tags[i]
    memcpy(keys, spare_keys, n * sizeof(key_t))
    memcpy(tags, spare_tags, n * sizeof(uint32_t))
    for digit in range(<uint32_t>VALUE_BUCKETS):
        slot = bucket_start[digit]
        if next_slot[digit] - slot > 1:
            radix_sort(keys + slot, tags + slot, spare_keys + slot, spare_tags + slot,
                       next_slot[digit] - slot, counters + 2 * VALUE_BUCKETS, False)


# ---------------------------------------------------------------------------------------
# Steps 2 and 3: pool adjacent violators, then scatter with signs
# ---------------------------------------------------------------------------------------

cdef Py_ssize_t pava_nonincreasing(const double* values, Py_ssize_t n, double* block_sum,
                                   uint32_t* block_length) noexcept nogil:
    """Pool adjacent violators: the least-squares non-increasing fit of ``values``.

    The fit is constant on consecutive blocks: block b has ``block_length[b]`` entries,
    all equal to ``block_sum[b] / block_length[b]``. Returns the number of blocks.
    """
    cdef Py_ssize_t k, n_blocks = 0
    cdef double total
    cdef uint32_t length
    for k in range(n):
        total = values[k]
        length = 1
        # While the new block's mean exceeds the previous block's mean (a violation of
        # "non-increasing"), pool the two blocks. The means are compared without
        # dividing: total / length > sum / count  <=>  total * count > sum * length.
        while n_blocks > 0 and total * block_length[n_blocks - 1] > block_sum[n_blocks - 1] * length:
            n_blocks -= 1
            total += block_sum[n_blocks]
            length += block_length[n_blocks]
        block_sum[n_blocks] = total
        block_length[n_blocks] = length
        n_blocks += 1
    return n_blocks


cdef int owl_on_sorted(const key_t* sorted_keys, const uint32_t* sorted_tags, Py_ssize_t n,
                       const double* lam, double eta, double* values, double* block_sum,
                       uint32_t* block_length, floating* out) noexcept nogil:
    """PAVA on the sorted magnitudes minus ``eta * lam``, clip at zero, scatter with signs.

    ``sorted_keys`` is ascending, so the k-th largest magnitude sits at ``n - 1 - k``.
    Checks ``lam`` on the way (finite, non-increasing, non-negative) and returns a
    STATUS_ code; ``out`` is written only when the status is STATUS_OK.
    """
    cdef Py_ssize_t k, b, n_blocks, position, j
    cdef double fitted, previous_weight = lam[0]
    cdef uint32_t tag
    if not (previous_weight < INFINITY):  # also catches nan
        return STATUS_WEIGHTS_NOT_FINITE
    for k in range(n):
        if not (lam[k] <= previous_weight):
            return STATUS_WEIGHTS_NOT_FINITE if lam[k] != lam[k] else STATUS_WEIGHTS_INCREASING
        previous_weight = lam[k]
        values[k] = key_to_double(sorted_keys[n - 1 - k]) - eta * lam[k]
    if previous_weight < 0.0:
        return STATUS_WEIGHTS_NEGATIVE
    n_blocks = pava_nonincreasing(values, n, block_sum, block_length)
    position = n - 1
    for b in range(n_blocks):
        fitted = block_sum[b] / block_length[b]
        if fitted < 0.0:
            fitted = 0.0
        for j in range(block_length[b]):
            tag = sorted_tags[position]
            position -= 1
            out[tag & INDEX_MASK] = <floating>(fitted * SIGN_OF_TAG[tag >> 31])
    return STATUS_OK


# ---------------------------------------------------------------------------------------
# Work buffers
# ---------------------------------------------------------------------------------------

cdef class Workspace:
    """Work buffers for ``capacity`` entries, allocated through NumPy.

    keys: 2 x capacity uint64 (key and spare key; float32 keys use the first half of
    each as uint32); tags: 3 x capacity uint32 (tag, spare tag, block length);
    values: 2 x capacity float64 (PAVA input, block sums); counters for the sort.
    """
    cdef readonly Py_ssize_t capacity
    cdef object keys, tags, values, counters
    cdef uint64_t* key_start
    cdef uint64_t* spare_key_start
    cdef uint32_t* tag_start
    cdef uint32_t* spare_tag_start
    cdef uint32_t* block_length_start
    cdef double* value_start
    cdef double* block_sum_start
    cdef uint32_t* counter_start

    def __cinit__(self, Py_ssize_t capacity):
        cdef uint64_t[::1] keys
        cdef uint32_t[::1] tags
        cdef double[::1] values
        cdef uint32_t[::1] counters
        self.capacity = capacity if capacity > 0 else 1
        self.keys = np.empty(2 * self.capacity, dtype=np.uint64)
        self.tags = np.empty(3 * self.capacity, dtype=np.uint32)
        self.values = np.empty(2 * self.capacity, dtype=np.float64)
        self.counters = np.empty(COUNTER_ENTRIES, dtype=np.uint32)
        keys = self.keys
        tags = self.tags
        values = self.values
        counters = self.counters
        self.key_start = &keys[0]
        self.spare_key_start = &keys[self.capacity]
        self.tag_start = &tags[0]
        self.spare_tag_start = &tags[self.capacity]
        self.block_length_start = &tags[2 * self.capacity]
        self.value_start = &values[0]
        self.block_sum_start = &values[self.capacity]
        self.counter_start = &counters[0]


_kept_workspace = None


cdef Workspace take_workspace(Py_ssize_t n):
    """A workspace for ``n`` entries: the kept one if it is large enough, else a new one.

    Taking it (under the GIL) removes it from the module, so two threads never share one.
    """
    global _kept_workspace
    cdef Workspace space = _kept_workspace
    _kept_workspace = None
    if space is None or space.capacity < n:
        space = Workspace(n)
    return space


cdef void give_back_workspace(Workspace space):
    global _kept_workspace
    if space.capacity <= LARGEST_KEPT_WORKSPACE:
        _kept_workspace = space


# ---------------------------------------------------------------------------------------
# The whole OWL prox, and the functions Python calls
# ---------------------------------------------------------------------------------------

cdef int owl_prox_core(const floating* z, Py_ssize_t n, const double* lam, double eta,
                       floating* out, Workspace space) noexcept nogil:
    """The OWL prox of ``z`` into ``out`` (which may be ``z`` itself); a STATUS_ code.

    Nothing is written to ``out`` unless ``z`` is finite and ``lam`` is valid.
    """
    cdef Py_ssize_t i
    cdef uint64_t bits64, largest64 = 0
    cdef uint32_t bits32, largest32 = 0
    cdef uint64_t* keys64 = space.key_start
    cdef uint32_t* keys32 = <uint32_t*>space.key_start
    cdef uint32_t* tags = space.tag_start
    if n == 0:
        return STATUS_OK
    # Step 1: keys = bits of |z_i| (the sign bit cleared); tags = i, sign bit on top.
    # The largest key tells whether some |z_i| is inf or nan (exponent bits all ones).
    if floating is double:
        for i in range(n):
            memcpy(&bits64, &z[i], 8)
            keys64[i] = bits64 & ~(<uint64_t>1 << 63)
            tags[i] = <uint32_t>i | (<uint32_t>(bits64 >> 63) << 31)
            if keys64[i] > largest64:
                largest64 = keys64[i]
        if largest64 >= (<uint64_t>0x7FF << 52):
            return STATUS_INPUT_NOT_FINITE
        sort_magnitudes(keys64, tags, space.spare_key_start, space.spare_tag_start, n,
                        space.counter_start)
        return owl_on_sorted(keys64, tags, n, lam, eta, space.value_start,
                             space.block_sum_start, space.block_length_start, out)
    else:
        for i in range(n):
            memcpy(&bits32, &z[i], 4)
            keys32[i] = bits32 & <uint32_t>INDEX_MASK
            tags[i] = <uint32_t>i | (bits32 & ~<uint32_t>INDEX_MASK)
            if keys32[i] > largest32:
                largest32 = keys32[i]
        if largest32 >= (<uint32_t>0xFF << 23):
            return STATUS_INPUT_NOT_FINITE
        sort_magnitudes(keys32, tags, <uint32_t*>space.spare_key_start, space.spare_tag_start,
                        n, space.counter_start)
        return owl_on_sorted(keys32, tags, n, lam, eta, space.value_start,
                             space.block_sum_start, space.block_length_start, out)


def owl_prox(const floating[::1] z, const double[::1] lam, double eta, floating[::1] out):
    """``out = prox of eta * Omega_lam at z``: the OWL prox (GrOWL Appendix A, Algorithm 2).

    ``z``, ``lam`` and ``out`` have one length; ``out`` may be ``z`` itself. Returns a
    status: 0 done; 1 ``z`` not finite; 2, 3, 4 ``lam`` not finite, increasing,
    negative (and then ``out`` is untouched). Twin: ``owl_prox_numpy`` in ``minireg/kernels/pava.py``.
    """
    cdef Py_ssize_t n = z.shape[0]
    cdef int status
    if n == 0:
        return STATUS_OK
    cdef Workspace space = take_workspace(n)
    with nogil:
        status = owl_prox_core(&z[0], n, &lam[0], eta, &out[0], space)
    give_back_workspace(space)
    return status


def growl_prox_rows(const floating[:, ::1] w, const double[::1] lam, double eta,
                    floating[:, ::1] out):
    """GrOWL prox of the rows of ``w`` into ``out`` (GrOWL, eq. (8)), in one call.

    Row norms r_i = ||w_i||_2 (in float64), then s = the OWL prox of r, then
    out_i = w_i * (s_i / r_i), a zero row staying zero. ``out`` may be ``w`` itself.
    Returns the status of ``owl_prox`` (1: a row norm is not finite).
    Twin: ``growl_prox_numpy`` in ``minireg/kernels/pava.py``.
    """
    cdef Py_ssize_t n_rows = w.shape[0], n_columns = w.shape[1]
    cdef int status
    if n_rows == 0:
        return STATUS_OK
    cdef Workspace space = take_workspace(2 * n_rows)
    # A workspace for 2 * n_rows entries, of which the OWL prox of the n_rows norms uses
    # the first half of each buffer; the norms and the shrunk norms go in second halves.
    cdef double* norms = space.value_start + n_rows
    cdef double* shrunk = space.block_sum_start + n_rows
    cdef Py_ssize_t i, j
    cdef double sums[8]
    cdef double value, norm
    cdef int lane
    cdef floating row_scale
    cdef const floating* row
    cdef floating* out_row
    with nogil:
        # Row norms, with eight running sums so that the additions do not wait on each
        # other (and the compiler can pair them in vector registers).
        for i in range(n_rows):
            row = &w[i, 0]
            for lane in range(8):
                sums[lane] = 0.0
            j = 0
            while j + 8 <= n_columns:
                for lane in range(8):
                    value = row[j + lane]
                    sums[lane] += value * value
                j += 8
            while j < n_columns:
                value = row[j]
                sums[0] += value * value
                j += 1
            norms[i] = sqrt(((sums[0] + sums[1]) + (sums[2] + sums[3]))
                            + ((sums[4] + sums[5]) + (sums[6] + sums[7])))
        status = owl_prox_core[double](norms, n_rows, &lam[0], eta, shrunk, space)
        # Rescale each row to its shrunk norm.
        for i in range(n_rows if status == STATUS_OK else 0):
            norm = norms[i]
            row_scale = <floating>(shrunk[i] / norm if norm > 0.0 else 0.0)
            row = &w[i, 0]
            out_row = &out[i, 0]
            for j in range(n_columns):
                out_row[j] = row[j] * row_scale
    give_back_workspace(space)
    return status


def isotonic_nonincreasing(const double[::1] values):
    """The least-squares non-increasing fit of ``values``, by pool adjacent violators.

    Twin: ``isotonic_nonincreasing_numpy`` in ``minireg/kernels/pava.py``.
    """
    cdef Py_ssize_t n = values.shape[0]
    fit = np.empty(n, dtype=np.float64)
    if n == 0:
        return fit
    cdef double[::1] fit_view = fit
    cdef Workspace space = take_workspace(n)
    cdef Py_ssize_t b, j, position = 0, n_blocks
    cdef double mean
    with nogil:
        n_blocks = pava_nonincreasing(&values[0], n, space.block_sum_start,
                                      space.block_length_start)
        for b in range(n_blocks):
            mean = space.block_sum_start[b] / space.block_length_start[b]
            for j in range(space.block_length_start[b]):
                fit_view[position] = mean
                position += 1
    give_back_workspace(space)
    return fit
