#ifndef CERTSYNC_BIGMEM_H
#define CERTSYNC_BIGMEM_H
/*
 * Buffers of megabytes for the bulk data paths (packs, blobs, read and
 * write buffers).
 *
 * Memory the process has not touched before costs a page fault per 4 KiB
 * the first time it is written, and memory handed back to the kernel costs
 * that again when it is taken anew; in a virtual machine each fault can
 * take tens of microseconds, so a gigabyte moved through fresh buffers
 * would spend seconds in faults. These buffers are aligned to 2 MiB, asked
 * of the kernel as transparent huge pages (one fault per 2 MiB where the
 * kernel allows it), and kept in a process-wide pool when freed, so a
 * steady stream of packs reuses the same few buffers. A request takes the
 * smallest spare buffer large enough for it, of at most about twice its
 * size.
 *
 * Thread-safe. Every buffer is aligned for direct I/O (CS_FS_DIRECT_ALIGN).
 */
#include <certsync/common.h>

/* Below this size a buffer comes from malloc (aligned to 4 KiB). */
#define CS_BIGMEM_MIN (1024u * 1024)
/* Freed buffers kept for reuse, in bytes, across the process. */
#define CS_BIGMEM_SPARE_MAX (128u * 1024 * 1024)

/* A buffer of at least len bytes (len > 0), or NULL when memory is short.
 * Its contents are undefined. Give it back with cs_bigmem_free(). */
CS_EXTERN void *cs_bigmem_alloc(size_t len);
/* Give back a buffer from cs_bigmem_alloc(). Any other pointer from malloc
 * is passed to free(), so code that hands buffers on may take either; NULL
 * is a no-op. */
CS_EXTERN void cs_bigmem_free(void *p);
/* The size of the buffers cs_bigmem_warm() adds: the largest the data
 * paths ask for (a pack of CS_PACK_MAX bytes with its framing, rounded up
 * to a whole 2 MiB). */
#define CS_BIGMEM_WARM_BUFFER (10u * 1024 * 1024)
/* Map and touch buffers of CS_BIGMEM_WARM_BUFFER bytes into the pool, as
 * many as fit in bytes and in CS_BIGMEM_SPARE_MAX, so that the first
 * transfers of a process take memory it already holds (any request of
 * more than 2 MiB can be served by one). Returns the bytes added:
 * whole buffers, fewer than asked when the pool is full or a mapping
 * fails. */
CS_EXTERN size_t cs_bigmem_warm(size_t bytes);
/* Unmap every spare buffer of the pool (buffers in use are not touched). */
CS_EXTERN void cs_bigmem_trim(void);
/* Bytes held in the pool for reuse (for tests and diagnostics). */
CS_EXTERN size_t cs_bigmem_spare(void);

#endif
