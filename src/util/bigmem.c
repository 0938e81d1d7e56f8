/* Large buffers from a pool of huge-page-backed mappings (certsync/bigmem.h). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <certsync/bigmem.h>

#define HUGE_SIZE (2u * 1024 * 1024)
/* Pooled sizes: 2 MiB steps up to this many steps; larger buffers are
 * mapped and unmapped each time. */
#define CLASSES 64
#define SMALL_ALIGN 4096u

struct spare {
	struct spare *next;
};

/* Live mappings handed out, so that a free needs no size. There are few
 * (the buffers in flight), so a list searched from its end will do. */
struct live {
	void *p;
	size_t size;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct spare *pool[CLASSES + 1];
static size_t spare_bytes;
static struct live *lives;
static size_t nlive, alive;

/* Under lock. */
static int live_add(void *p, size_t size)
{
	if (nlive == alive) {
		size_t na = alive ? alive * 2 : 32;
		struct live *n = realloc(lives, na * sizeof(*n));
		if (n == NULL)
			return -1;
		lives = n;
		alive = na;
	}
	lives[nlive].p = p;
	lives[nlive].size = size;
	nlive++;
	return 0;
}

/* Under lock: the size of a live mapping, which is forgotten; 0 if p is
 * not one. */
static size_t live_take(void *p)
{
	for (size_t i = nlive; i-- > 0;)
		if (lives[i].p == p) {
			size_t size = lives[i].size;
			lives[i] = lives[--nlive];
			return size;
		}
	return 0;
}

static size_t steps_of(size_t len)
{
	return (len + HUGE_SIZE - 1) / HUGE_SIZE;
}

/* A fresh mapping of size bytes (a multiple of HUGE_SIZE), aligned to
 * HUGE_SIZE so that the kernel can back it with huge pages. */
static void *map_aligned(size_t size)
{
	if (size > SIZE_MAX - HUGE_SIZE)
		return NULL;
	size_t span = size + HUGE_SIZE;
	uint8_t *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	uintptr_t start = ((uintptr_t)p + HUGE_SIZE - 1) & ~(uintptr_t)(HUGE_SIZE - 1);
	size_t head = start - (uintptr_t)p, tail = span - head - size;
	if (head)
		munmap(p, head);
	if (tail)
		munmap((uint8_t *)start + size, tail);
	/* advice only: without transparent huge pages this is 4 KiB pages */
	(void)madvise((void *)start, size, MADV_HUGEPAGE);
	return (void *)start;
}

void *cs_bigmem_alloc(size_t len)
{
	if (len == 0)
		return NULL;
	if (len < CS_BIGMEM_MIN) {
		void *p = NULL;
		return posix_memalign(&p, SMALL_ALIGN, len) == 0 ? p : NULL;
	}
	size_t steps = steps_of(len), size = steps * HUGE_SIZE;
	void *p = NULL;
	/* The smallest spare that is large enough: one of the same size when
	 * there is one, else one up to about twice as large rather than fresh
	 * memory (it goes back to its own size when freed). The bound keeps
	 * small requests from holding the large buffers packs need. */
	pthread_mutex_lock(&lock);
	for (size_t k = steps; k <= CLASSES && k <= 2 * steps + 1 && p == NULL; k++)
		if (pool[k] != NULL) {
			struct spare *s = pool[k];
			pool[k] = s->next;
			size = k * HUGE_SIZE;
			spare_bytes -= size;
			p = s;
		}
	pthread_mutex_unlock(&lock);
	if (p == NULL && (p = map_aligned(size)) == NULL)
		return NULL;
	pthread_mutex_lock(&lock);
	int r = live_add(p, size);
	pthread_mutex_unlock(&lock);
	if (r < 0) {
		munmap(p, size);
		return NULL;
	}
	return p;
}

void cs_bigmem_free(void *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&lock);
	size_t size = live_take(p), steps = size / HUGE_SIZE;
	int keep = size != 0 && steps <= CLASSES && spare_bytes + size <= CS_BIGMEM_SPARE_MAX;
	if (keep) {
		struct spare *s = p;
		s->next = pool[steps];
		pool[steps] = s;
		spare_bytes += size;
	}
	pthread_mutex_unlock(&lock);
	if (size == 0)
		free(p);
	else if (!keep)
		munmap(p, size);
}

size_t cs_bigmem_warm(size_t bytes)
{
	size_t steps = steps_of(CS_BIGMEM_WARM_BUFFER), size = steps * HUGE_SIZE, added = 0;
	long ps = sysconf(_SC_PAGESIZE);
	size_t page = ps > 0 ? (size_t)ps : 4096;
	while (bytes - added >= size) {
		/* Mapping and touching take milliseconds: not under the lock, so
		 * the room checked first is checked again before the buffer goes
		 * in (the process may have freed buffers meanwhile). */
		pthread_mutex_lock(&lock);
		int room = spare_bytes + size <= CS_BIGMEM_SPARE_MAX;
		pthread_mutex_unlock(&lock);
		uint8_t *p = room ? map_aligned(size) : NULL;
		if (p == NULL)
			break;
		for (size_t off = 0; off < size; off += page)
			((volatile uint8_t *)p)[off] = 0;
		pthread_mutex_lock(&lock);
		room = spare_bytes + size <= CS_BIGMEM_SPARE_MAX;
		if (room) {
			struct spare *s = (struct spare *)p;
			s->next = pool[steps];
			pool[steps] = s;
			spare_bytes += size;
		}
		pthread_mutex_unlock(&lock);
		if (!room) {
			munmap(p, size);
			break;
		}
		added += size;
	}
	return added;
}

void cs_bigmem_trim(void)
{
	for (size_t k = 1; k <= CLASSES; k++) {
		pthread_mutex_lock(&lock);
		struct spare *s = pool[k];
		pool[k] = NULL;
		for (struct spare *t = s; t != NULL; t = t->next)
			spare_bytes -= k * HUGE_SIZE;
		pthread_mutex_unlock(&lock);
		while (s != NULL) {
			struct spare *next = s->next;
			munmap(s, k * HUGE_SIZE);
			s = next;
		}
	}
}

size_t cs_bigmem_spare(void)
{
	pthread_mutex_lock(&lock);
	size_t n = spare_bytes;
	pthread_mutex_unlock(&lock);
	return n;
}
