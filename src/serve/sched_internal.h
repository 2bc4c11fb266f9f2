/* Internal declarations of the scheduler behind `edgelm serve`, shared by sched.c (the engine
 * thread: slots, batches, sampling, answers) and endpoints.c (the requests on the loop thread). */
#ifndef ELM_SCHED_INTERNAL_H
#define ELM_SCHED_INTERNAL_H

#include <pthread.h>

#include "edgelm/engine.h"
#include "edgelm/serve.h"
#include "edgelm/tokenizer.h"

typedef enum { SLOT_IDLE = 0, SLOT_PREFILL, SLOT_DECODE } slot_state_t;

/* One admitted generation request, from the loop thread's parse to its end. */
typedef struct job {
    elm_server_req_t *req;
    elm_serve_request_t r;
    int32_t *prompt; /* (n_prompt) the whole prompt's ids */
    uint32_t n_prompt;
    uint64_t t_arrive, t_start, t_first, t_last;
    bool began; /* the stream's head was sent: the request ends with elm_server_stream_end */
    struct job *next;
} job_t;

typedef struct {
    slot_state_t state;
    job_t *job;
    int32_t *cached;      /* (n_ctx) the ids of the positions its sequence holds (held()) */
    uint32_t n_reused;    /* prompt tokens found in the cache for the running job */
    uint32_t next_prompt; /* index of the next prompt token to prefill */
    int32_t last;         /* the sampled token still to be decoded */
    uint32_t n_gen;
    uint64_t lru;
    bool first_chunk; /* the stream's first chunk (chat: carries the role) */
    elm_sampler_t *smp;
    elm_detok_stream_t *detok;
    elm_stop_matcher_t *stop;
    elm_sbuf_t text;         /* non-streamed: the answer so far */
    elm_serve_logprob_t *lp; /* (n_lp) each generated token's logprob, when the request asks */
    size_t n_lp, cap_lp;
    size_t lp_sent; /* entries already in a streamed chunk */
    char id[48];
    int64_t created;
} slot_t;

struct elm_sched {
    elm_sched_params_t p;
    elm_model_t *model;
    elm_session_t *sess;
    elm_tokenizer_t *tok;
    elm_chat_tmpl_t tmpl;
    bool has_encoder; /* t5: a prompt is the encoder input, and no prefix is reused */
    elm_metrics_t *metrics;
    char model_id[256];  /* --alias, else the file name */
    char file_name[256]; /* the model file's name, also accepted as the model */
    int64_t created;
    slot_t *slots;
    elm_batch_row_t *rows;
    elm_serve_limits_t lim;

    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *queue_head, *queue_tail; /* waiting for a slot, oldest first */
    size_t n_queued;
    int n_running; /* slots in use, as the engine thread last counted them (the lock held) */
    bool stopping;
    uint64_t step;

    /* energy, read by the loop thread at each /metrics scrape (p.power set) */
    const char *power_name; /* the source label: "rapl", "constant", ... */
    double power_j;         /* the source's energy counter at the last read (counter sources) */
    double power_w;         /* watts at the last read; NAN when unknown */
    uint64_t power_t;       /* elm_time_ns() of the last read */
};

/* Count a request answered with status on endpoint (edgelm_requests_total). */
void elm__sched_count(elm_sched_t *s, const char *endpoint, int status);

/* Answer req with an error body and count it. */
void elm__sched_reply_error(elm_sched_t *s, elm_server_req_t *req, const char *endpoint,
                            const elm_serve_error_t *e);

/* Answer req with a malloc'd JSON text (taken), or 500 when it is NULL; count it. */
void elm__sched_reply_json(elm_sched_t *s, elm_server_req_t *req, const char *endpoint, char *body);

/* The server backend hooks (endpoints.c): every routed request, and a client gone. */
void elm__sched_on_request(void *user, elm_server_req_t *req);
void elm__sched_on_cancel(void *user, elm_server_req_t *req);

/* Free a job and what it owns. */
void elm__sched_job_free(job_t *j);

#endif
