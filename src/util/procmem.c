/* The heap of a process that moves bulk data (certsync/procmem.h). */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <certsync/bigmem.h>
#include <certsync/clock.h>
#include <certsync/log.h>
#include <certsync/procmem.h>

#define PIECE (1024u * 1024) /* well under the mmap threshold of cs_procmem_tune */
#define MMAP_THRESHOLD (32u * 1024 * 1024)
#define TRIM_THRESHOLD (256u * 1024 * 1024)

/* Take bytes of heap in pieces, then write a byte in each of their pages,
 * then free them. Taking them all first (microseconds) keeps them side by
 * side even while other threads allocate; freed, they merge into free
 * space the heap keeps (at its top it is trimmed only beyond
 * TRIM_THRESHOLD, below a live block never), already backed by memory. */
static size_t warm(size_t bytes)
{
	size_t n = bytes / PIECE, got = 0;
	long ps = sysconf(_SC_PAGESIZE);
	size_t page = ps > 0 ? (size_t)ps : 4096;
	void **pieces = n ? calloc(n, sizeof(*pieces)) : NULL;
	if (pieces == NULL)
		return 0;
	while (got < n && (pieces[got] = malloc(PIECE)) != NULL)
		got++;
	for (size_t i = 0; i < got; i++)
		for (size_t off = 0; off < PIECE; off += page)
			((volatile uint8_t *)pieces[i])[off] = 0;
	size_t warmed = got * PIECE;
	while (got > 0)
		free(pieces[--got]);
	free(pieces);
	return warmed;
}

/* Half the bytes to the heap, half to the pool of large buffers; the log
 * says when it is done (scripts that measure wait for it). */
static void warm_both(size_t bytes)
{
	int64_t t0 = cs_clock_mono_ms();
	size_t heap = warm(bytes / 2);
	size_t pool = cs_bigmem_warm(bytes - bytes / 2);
	cs_log(CS_LOG_INFO, "memory.warmed", "heap_mib=%zu buffers_mib=%zu ms=%lld", heap >> 20,
		pool >> 20, (long long)(cs_clock_mono_ms() - t0));
}

/* The background warm-up: the process serves meanwhile. */
static void *warm_main(void *arg)
{
	warm_both((size_t)(uintptr_t)arg);
	return NULL;
}

void cs_procmem_tune(void)
{
	/* mallopt returns 0 where the allocator does not take a setting */
	(void)mallopt(M_MMAP_THRESHOLD, (int)MMAP_THRESHOLD);
	(void)mallopt(M_TRIM_THRESHOLD, (int)TRIM_THRESHOLD);
}

void cs_procmem_warm(size_t warm_bytes, int background)
{
	if (warm_bytes == 0)
		return;
	if (warm_bytes > (size_t)CS_PROCMEM_WARM_MAX_MIB << 20)
		warm_bytes = (size_t)CS_PROCMEM_WARM_MAX_MIB << 20;
	(void)mallopt(M_ARENA_MAX, 1);
	if (background) {
		pthread_t t;
		pthread_attr_t attr;
		if (pthread_attr_init(&attr) == 0) {
			int started = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
				pthread_create(&t, &attr, warm_main, (void *)(uintptr_t)warm_bytes) == 0;
			pthread_attr_destroy(&attr);
			if (started)
				return;
		}
	}
	warm_both(warm_bytes);
}
