/*
 * The relay's writer thread (hub_internal.h). Writing a pack of megabytes
 * to the disk takes milliseconds the event loop cannot spare: every other
 * connection would wait, and uploads would arrive no faster than the disk
 * takes them one by one. The loop checks and copies an upload, queues it
 * here, and goes on; this thread writes the file and hands the upload back
 * through a pipe, and the loop records it and answers. The same queue
 * removes the directories of finished jobs (cs__relay_delete_job): behind
 * any write still queued for the job, and off the loop for the same reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <certsync/error.h>
#include <certsync/httpd.h>
#include "hub/hub_internal.h"

struct cs__blob_writer {
	cs_hub *hub;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct cs__blob_write *queue, **queue_tail; /* in arrival order */
	struct cs__blob_write *done, **done_tail;
	int pipe[2]; /* the thread writes a byte per finished item */
	int quit, hold;
	void (*finish)(cs_hub *hub, struct cs__blob_write *w);
};

static void push(struct cs__blob_write ***tail, struct cs__blob_write *w)
{
	w->next = NULL;
	**tail = w;
	*tail = &w->next;
}

static void *writer_main(void *arg)
{
	struct cs__blob_writer *bw = arg;
	pthread_mutex_lock(&bw->lock);
	for (;;) {
		while ((bw->queue == NULL || bw->hold) && !bw->quit)
			pthread_cond_wait(&bw->wake, &bw->lock);
		struct cs__blob_write *w = bw->queue;
		if (w == NULL)
			break; /* quit with nothing left to write */
		bw->queue = w->next;
		if (bw->queue == NULL)
			bw->queue_tail = &bw->queue;
		pthread_mutex_unlock(&bw->lock);
		cs__relay_put_write(w);
		pthread_mutex_lock(&bw->lock);
		push(&bw->done_tail, w);
		ssize_t n;
		do
			n = write(bw->pipe[1], "w", 1);
		while (n < 0 && errno == EINTR);
		/* a full pipe already holds a wake-up for the loop */
	}
	pthread_mutex_unlock(&bw->lock);
	return NULL;
}

/* On the loop: record and answer every finished upload, log every
 * finished removal. */
static void on_done(void *ud)
{
	struct cs__blob_writer *bw = ud;
	char buf[256];
	while (read(bw->pipe[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&bw->lock);
	struct cs__blob_write *list = bw->done;
	bw->done = NULL;
	bw->done_tail = &bw->done;
	pthread_mutex_unlock(&bw->lock);
	while (list) {
		struct cs__blob_write *w = list;
		list = w->next;
		if (w->remove)
			cs__relay_remove_end(w);
		else
			bw->finish(bw->hub, w);
	}
}

int cs__blob_writer_start(cs_hub *hub, void (*finish)(cs_hub *hub, struct cs__blob_write *w))
{
	struct cs__blob_writer *bw = calloc(1, sizeof(*bw));
	if (bw == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	bw->hub = hub;
	bw->finish = finish;
	bw->queue_tail = &bw->queue;
	bw->done_tail = &bw->done;
	if (pipe2(bw->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		free(bw);
		return cs_error_set(CS_EIO, "pipe: %s", strerror(errno));
	}
	pthread_mutex_init(&bw->lock, NULL);
	pthread_cond_init(&bw->wake, NULL);
	int r = cs_httpd_watch(hub->httpd, bw->pipe[0], on_done, bw);
	if (r == 0 && pthread_create(&bw->thread, NULL, writer_main, bw) != 0)
		r = cs_error_set(CS_ERROR, "cannot start the relay's writer thread");
	if (r < 0) {
		close(bw->pipe[0]);
		close(bw->pipe[1]);
		pthread_cond_destroy(&bw->wake);
		pthread_mutex_destroy(&bw->lock);
		free(bw);
		return r;
	}
	hub->writer = bw;
	return CS_OK;
}

void cs__blob_writer_submit(struct cs__blob_writer *bw, struct cs__blob_write *w)
{
	pthread_mutex_lock(&bw->lock);
	push(&bw->queue_tail, w);
	pthread_cond_signal(&bw->wake);
	pthread_mutex_unlock(&bw->lock);
}

void cs__blob_writer_hold(struct cs__blob_writer *bw, int hold)
{
	pthread_mutex_lock(&bw->lock);
	bw->hold = hold;
	pthread_cond_signal(&bw->wake);
	pthread_mutex_unlock(&bw->lock);
}

void cs__blob_writer_free(cs_hub *hub)
{
	struct cs__blob_writer *bw = hub->writer;
	if (bw == NULL)
		return;
	pthread_mutex_lock(&bw->lock);
	bw->quit = 1;
	pthread_cond_signal(&bw->wake);
	pthread_mutex_unlock(&bw->lock);
	pthread_join(bw->thread, NULL);
	/* everything queued was written: record and answer it */
	on_done(bw);
	close(bw->pipe[0]);
	close(bw->pipe[1]);
	pthread_cond_destroy(&bw->wake);
	pthread_mutex_destroy(&bw->lock);
	free(bw);
	hub->writer = NULL;
}
