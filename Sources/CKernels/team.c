// A small team of worker threads for short parallel regions (token-by-token decoding runs a few
// hundred regions of tens of microseconds each per token). Waking a sleeping worker through the OS
// costs about as much as such a region, so workers spin for a while after each region before they
// sleep; the next region then starts without a system call. Regions are run one at a time: a second
// caller waits for the first to finish.
#include "CKernels.h"
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

#define TEAM_MAX 64
#define SPIN_ROUNDS 50000  // about a millisecond of spinning before a worker sleeps

static struct {
    pthread_mutex_t lock;   // held by the caller for a whole region
    pthread_mutex_t sleep;  // guards `sleepers` and the condition
    pthread_cond_t wake;
    int started;            // workers created
    uint64_t sleeping;      // bit i: worker i sleeps (guarded by `sleep`)
    orr_team_fn fn;
    void *ctx;
    int count;              // tasks in the current region
    uint64_t generation;    // bumped for each region (atomic)
    int pending;            // tasks not yet finished (atomic)
} team = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, 0};
// A worker that had no task in the last region sleeps at once instead of spinning: after a region
// of more tasks than cores (a test at 3 threads on 2 cores), the extra worker would otherwise spin
// beside every later region and take a core's share from the workers that have work.

// The step profiler's view: how long the profiling thread waited, at the end of its regions, for the
// workers to finish their tasks (load imbalance plus hand-over), and how many regions it ran.
static struct {
    int on;
    pthread_t owner;
    uint64_t wait_ns;  // atomic
    uint64_t regions;  // atomic
} prof;

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void orr_team_set_profiling(int on) {
    prof.owner = pthread_self();
    __atomic_store_n(&prof.on, on, __ATOMIC_RELEASE);
}
void orr_team_profile_reset(void) {
    __atomic_store_n(&prof.wait_ns, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&prof.regions, 0, __ATOMIC_RELAXED);
}
uint64_t orr_team_profile_wait_ns(void) { return __atomic_load_n(&prof.wait_ns, __ATOMIC_RELAXED); }
void orr_team_profile_read(orr_team_profile_t *out) {
    out->wait_ns = __atomic_load_n(&prof.wait_ns, __ATOMIC_RELAXED);
    out->regions = __atomic_load_n(&prof.regions, __ATOMIC_RELAXED);
}

static void *worker(void *arg) {
    const int index = (int)(intptr_t)arg;  // 1 … TEAM_MAX−1
    const uint64_t bit = (uint64_t)1 << index;
    uint64_t seen = 0;
    int idle = 0;
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = __atomic_load_n(&team.generation, __ATOMIC_ACQUIRE)) == seen) {
            if (!idle && ++spins < SPIN_ROUNDS) {
                CPU_RELAX();
                continue;
            }
            pthread_mutex_lock(&team.sleep);
            team.sleeping |= bit;
            while (__atomic_load_n(&team.generation, __ATOMIC_ACQUIRE) == seen) pthread_cond_wait(&team.wake, &team.sleep);
            team.sleeping &= ~bit;
            pthread_mutex_unlock(&team.sleep);
            spins = 0;
        }
        seen = g;
        if (index < team.count) {
            team.fn(team.ctx, index, team.count);
            __atomic_fetch_sub(&team.pending, 1, __ATOMIC_ACQ_REL);
            idle = 0;
        } else {
            idle = 1;
        }
    }
    return NULL;
}

static void run_locked(int count, orr_team_fn fn, void *ctx);

void orr_team_run(int count, orr_team_fn fn, void *ctx) {
    if (count <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    if (count > TEAM_MAX) count = TEAM_MAX;
    pthread_mutex_lock(&team.lock);
    run_locked(count, fn, ctx);
}

int orr_team_try_run(int count, orr_team_fn fn, void *ctx) {
    if (count <= 1) {
        fn(ctx, 0, 1);
        return 1;
    }
    if (count > TEAM_MAX) count = TEAM_MAX;
    if (pthread_mutex_trylock(&team.lock) != 0) return 0;
    run_locked(count, fn, ctx);
    return 1;
}

// Runs one region with team.lock held; releases it.
static void run_locked(int count, orr_team_fn fn, void *ctx) {
    while (team.started < count - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, worker, (void *)(intptr_t)(team.started + 1)) != 0) {
            pthread_attr_destroy(&attr);
            break;
        }
        pthread_attr_destroy(&attr);
        team.started++;
    }
    if (count - 1 > team.started) count = team.started + 1;
    team.fn = fn;
    team.ctx = ctx;
    team.count = count;
    // Workers with index ≥ count see the new generation and do nothing; only `count − 1` finish.
    __atomic_store_n(&team.pending, count - 1, __ATOMIC_RELEASE);
    // Wake sleepers only when one of this region's workers (1 … count−1) is among them.
    const uint64_t needed = count >= 64 ? ~(uint64_t)1 : (((uint64_t)1 << count) - 1) & ~(uint64_t)1;
    pthread_mutex_lock(&team.sleep);
    __atomic_fetch_add(&team.generation, 1, __ATOMIC_ACQ_REL);
    if (team.sleeping & needed) pthread_cond_broadcast(&team.wake);
    pthread_mutex_unlock(&team.sleep);
    fn(ctx, 0, count);
    if (__atomic_load_n(&prof.on, __ATOMIC_ACQUIRE) && pthread_equal(pthread_self(), prof.owner)) {
        const uint64_t t0 = now_ns();
        while (__atomic_load_n(&team.pending, __ATOMIC_ACQUIRE) > 0) CPU_RELAX();
        __atomic_fetch_add(&prof.wait_ns, now_ns() - t0, __ATOMIC_RELAXED);
        __atomic_fetch_add(&prof.regions, 1, __ATOMIC_RELAXED);
    } else {
        while (__atomic_load_n(&team.pending, __ATOMIC_ACQUIRE) > 0) CPU_RELAX();
    }
    pthread_mutex_unlock(&team.lock);
}
