#ifndef CERTSYNC_PROCMEM_H
#define CERTSYNC_PROCMEM_H
/*
 * The heap of a process that moves bulk data.
 *
 * Memory a process touches for the first time costs a page fault per 4 KiB,
 * and memory the allocator hands back to the kernel costs that again when it
 * is taken anew. In a virtual machine a first touch can cost far more than
 * the copy it serves: on the 2-core VM the benchmarks run on, writing fresh
 * memory ran at about 0.3 GB/s against some 25 GB/s for memory the process
 * already held, and a hub relaying its first gigabyte faulted some 9,000
 * pages of heap and 64 MiB of large buffers in the middle of the job. The
 * large buffers of the data paths come from certsync/bigmem.h, which keeps
 * its own pool; this file is about the rest of the heap, and about filling
 * both up front in a long-running process.
 */
#include <certsync/common.h>

/* The default of `--warm-memory` for the hub and the agent, in MiB. */
#define CS_PROCMEM_WARM_DEFAULT_MIB 128
/* The largest accepted, in MiB. */
#define CS_PROCMEM_WARM_MAX_MIB 256

/*
 * Keep blocks of a few MiB on the heap and keep freed memory there, for
 * any process of the project (the CLI calls it first thing):
 *  - blocks up to 32 MiB come from the heap rather than a mapping of their
 *    own that is unmapped again when freed (M_MMAP_THRESHOLD; 32 MiB is the
 *    largest glibc takes on 64-bit systems, a larger one is refused and
 *    leaves every block from 128 KiB up to mmap);
 *  - free memory at the top of the heap is handed back to the kernel only
 *    beyond 256 MiB (M_TRIM_THRESHOLD).
 * An allocator that takes no such settings (a sanitizer's, valgrind's) is
 * left as it is.
 */
CS_EXTERN void cs_procmem_tune(void);

/*
 * For a long-running server (the hub, the agent), after cs_procmem_tune()
 * and before it starts threads. With warm_bytes 0 it does nothing; else
 * (at most CS_PROCMEM_WARM_MAX_MIB MiB are taken):
 *  - every thread allocates from the one main heap (M_ARENA_MAX 1), so what
 *    was warmed serves them all;
 *  - half of warm_bytes is taken from the heap in 1 MiB pieces, touched
 *    page by page and freed again, so that it stays with the process;
 *  - the other half goes to the pool of large buffers as whole buffers of
 *    CS_BIGMEM_WARM_BUFFER (cs_bigmem_warm(); 128 MiB: 64 MiB of heap and
 *    60 MiB of buffers).
 * The memory is resident from then on. With background set the warming is
 * done by a detached thread and the call returns at once; the process can
 * serve meanwhile. Where a mapping or an allocation fails, warming stops
 * there; under overcommit the kernel hands out memory only when it is
 * touched, so size warm_bytes to the machine.
 */
CS_EXTERN void cs_procmem_warm(size_t warm_bytes, int background);

#endif
