"""Running a benchmark loop in several client processes and summing up their latencies
(shared by txn-bench.py and lock-bench.py)."""

import multiprocessing


def run(worker, args, processes, seconds, unit):
    """Runs `worker(process_number, *args, out_queue)` in `processes` processes; each puts
    the latencies (s) of its operations on the queue. Prints the operations per second and
    the p50/p99 latency, `unit` naming an operation."""
    q = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=worker, args=(i, *args, q)) for i in range(processes)
    ]
    for p in procs:
        p.start()
    lat = []
    for _ in procs:
        lat.extend(q.get())
    for p in procs:
        p.join()
    lat.sort()
    n = len(lat)
    print(
        "%d %s in %g s: %.0f %s/s, p50 %.0f us, p99 %.0f us"
        % (n, unit, seconds, n / seconds, unit, lat[n // 2] * 1e6, lat[n * 99 // 100] * 1e6)
    )
