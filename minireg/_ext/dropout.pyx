# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled dropout: the keep mask and the scaled output ``x * m / keep`` in one pass.

The readable twin is ``dropout_numpy`` in ``minireg/kernels/dropout.py``; call this
kernel through ``minireg.kernels.dropout``, which checks the arguments: this module
assumes them valid. The same kernel serves DropConnect: pass a weight matrix as ``x``.

Random bits
-----------
The bits come from the caller's ``numpy.random.Generator``, through the C interface
of its bit generator (``bitgen_t.next_uint64``), while holding the generator's lock,
as NumPy's own samplers do. Each 64-bit word gives four 16-bit draws: bits 0-15 for
the first entry, bits 16-31 for the second, and so on; entry ``k`` is kept when its
draw is below ``threshold = round(keep * 2**16)``. A call of ``n`` entries consumes
exactly ``ceil(n / 4)`` words, the same words that ``bit_generator.random_raw`` would
return, which is how the twin reproduces the mask bit for bit.

Speed
-----
Words are drawn in blocks of 256 into a small buffer of 1024 draws, and the entries are
then processed by a loop with no branch per entry (a comparison gives the mask bit, a
select gives the factor ``scale`` or 0), which the C compiler vectorizes.
"""
from cpython.pycapsule cimport PyCapsule_GetPointer
from cython cimport floating
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy
from numpy.random cimport bitgen_t

cdef enum:
    WORDS_PER_BLOCK = 256
    DRAWS_PER_WORD = 4
    DRAWS_PER_BLOCK = WORDS_PER_BLOCK * DRAWS_PER_WORD


def dropout_fill(const floating[::1] x, uint32_t threshold, double scale, object bit_generator,
                 floating[::1] out, uint8_t[::1] mask):
    """``mask[k] = draw_k < threshold``; ``out[k] = x[k] * (scale if mask[k] else 0)``.

    Assumes, as ``minireg.kernels.dropout`` ensures: ``x``, ``out`` and ``mask`` are flat
    and of one length; ``out`` is ``x`` itself or does not overlap it; ``threshold`` is
    ``round(keep * 2**16)`` (in 1 ... 2**16) and ``scale`` is ``1 / keep``;
    ``bit_generator`` is ``rng.bit_generator`` of a ``numpy.random.Generator``.
    Twin: ``dropout_numpy`` in ``minireg/kernels/dropout.py``.
    """
    cdef Py_ssize_t n = x.shape[0]
    cdef bitgen_t* rng = <bitgen_t*>PyCapsule_GetPointer(bit_generator.capsule, "BitGenerator")
    cdef floating kept_factor = <floating>scale
    cdef floating dropped_factor = 0
    cdef uint16_t draws[DRAWS_PER_BLOCK]
    cdef uint16_t last_kept_draw = <uint16_t>(threshold - 1)  # draw < threshold
    cdef uint64_t probe = 1
    cdef bint little_endian = (<uint8_t*>&probe)[0] == 1
    cdef Py_ssize_t start = 0, count, n_words, w, k
    cdef uint64_t word
    cdef bint keep_entry
    cdef const floating* x_block
    cdef floating* out_block
    cdef uint8_t* mask_block
    if n == 0:
        return
    with bit_generator.lock, nogil:
        while start < n:
            count = n - start
            if count > DRAWS_PER_BLOCK:
                count = DRAWS_PER_BLOCK
            n_words = (count + DRAWS_PER_WORD - 1) // DRAWS_PER_WORD
            # The random words of this block, cut into 16-bit draws: draw 4*w + j is bits
            # 16*j ... 16*j + 15 of word w. On a little-endian machine that is exactly how
            # the word lies in memory, so an 8-byte copy does the cutting.
            if little_endian:
                for w in range(n_words):
                    word = rng.next_uint64(rng.state)
                    memcpy(&draws[4 * w], &word, 8)
            else:
                for w in range(n_words):
                    word = rng.next_uint64(rng.state)
                    draws[4 * w] = <uint16_t>(word & 0xFFFF)
                    draws[4 * w + 1] = <uint16_t>((word >> 16) & 0xFFFF)
                    draws[4 * w + 2] = <uint16_t>((word >> 32) & 0xFFFF)
                    draws[4 * w + 3] = <uint16_t>(word >> 48)
            # Mask and scaled output, without a branch per entry.
            x_block = &x[start]
            out_block = &out[start]
            mask_block = &mask[start]
            for k in range(count):
                keep_entry = draws[k] <= last_kept_draw
                mask_block[k] = keep_entry
                out_block[k] = x_block[k] * (kept_factor if keep_entry else dropped_factor)
            start += count
