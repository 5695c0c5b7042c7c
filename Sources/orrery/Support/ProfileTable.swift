import Compute
import Foundation

/// Prints a step profile as a table (or JSON lines per the bench contract): one row per category and
/// per leading GEMM shape, each with its achieved rate against the machine's limits.
func printProfile(_ p: StepProfile, caseName: String, limits: MachineLimits, json: Bool) {
    let rows = p.rows(peakGFLOPS: limits.fmaGFLOPS, bandwidthGBs: limits.bandwidthGBs)
    if json {
        for r in rows {
            var o: [String: Any] = [
                "bench": "train-gpt", "case": caseName, "impl": "orrery",
                "profile": r.name.trimmingCharacters(
                    in: .whitespaces),
                "category": r.category.label, "ms_per_step": r.msPerStep, "share": r.share,
                "calls_per_step": r.callsPerStep, "threads": limits.threads,
            ]
            if let rate = r.rate { o[r.unit == "GFLOP/s" ? "gflops" : "gb_per_s"] = rate }
            if let f = r.ofLimit { o[r.unit == "GFLOP/s" ? "of_peak" : "of_bandwidth"] = f }
            print(JSONLine.encode(o))
        }
        print(
            JSONLine.encode([
                "bench": "train-gpt", "case": caseName, "impl": "orrery", "profile": "step",
                "ms_per_step": p.stepSeconds * 1000, "steps": p.steps, "threads": limits.threads,
                "heap_allocations_per_step": p.heapAllocationsPerStep,
                "reused_allocations_per_step": p.reusedAllocationsPerStep,
            ]))
        return
    }
    print(
        String(
            format: "\nprofile of %@: %d steps, %.1f ms per step (limits: %.0f GFLOP/s FMA, %.1f GB/s memory)",
            caseName, p.steps, p.stepSeconds * 1000, limits.fmaGFLOPS, limits.bandwidthGBs))
    print("  where                          ms/step  share  calls/step            rate  of limit")
    for r in rows {
        let rate = r.rate.map { String(format: "%6.1f %@", $0, r.unit) } ?? ""
        let of =
            r.ofLimit.map {
                r.unit == "GFLOP/s" ? String(format: "%5.1f%%", 100 * $0) : String(format: "%4.2f× DRAM", $0)
            } ?? ""
        let name = r.name.count > 30 ? String(r.name.prefix(29)) + "…" : r.name
        print(
            "  " + name.padding(toLength: 30, withPad: " ", startingAt: 0)
                + String(
                    format: " %8.2f %5.1f%% %10.0f  %14@  %@", r.msPerStep, 100 * r.share, r.callsPerStep, rate, of))
    }
    print(
        String(
            format: "  tensor buffers per step: %.1f from the heap, %.1f reused from the pool",
            p.heapAllocationsPerStep, p.reusedAllocationsPerStep))
}
