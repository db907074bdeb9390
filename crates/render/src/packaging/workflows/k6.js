import http from "k6/http";
import { check, fail } from "k6";

// The target: BASE_URL when the pipeline gives one (the staging host of a public workload),
// otherwise the Service's in-cluster address (the job then runs on a runner inside staging).
const BASE_URL = __ENV.BASE_URL || TARGET.inClusterUrl;

// Steady arrival rate (requests per second, not virtual users), so latency under a known load is
// what is measured; thresholds are the workload's SLO and fail the run (k6 exits 99).
export const options = {
  scenarios: {
    steady: {
      executor: "constant-arrival-rate",
      rate: TARGET.ratePerSecond,
      timeUnit: "1s",
      duration: TARGET.duration,
      preAllocatedVUs: TARGET.preAllocatedVUs,
      maxVUs: TARGET.maxVUs,
    },
  },
  thresholds: TARGET.thresholds,
  summaryTrendStats: ["avg", "med", "p(90)", "p(95)", "p(99)", "max"],
};

// One request before the load: a target the runner cannot reach (an in-cluster address from a
// GitHub-hosted runner, a wrong BASE_URL) aborts at once with the reason, rather than after the
// whole duration as a threshold failure that reads like a regression.
export function setup() {
  const res = http.get(`${BASE_URL}${TARGET.path}`, { tags: { name: "preflight" } });
  if (res.error_code !== 0) {
    fail(
      `${BASE_URL}${TARGET.path} is unreachable (${res.error}): set the caller's loadtest-base-url, ` +
        "or run the load test on a runner inside staging (loadtest-runner)",
    );
  }
}

export default function () {
  const res = http.get(`${BASE_URL}${TARGET.path}`, { tags: { name: TARGET.workload } });
  check(res, { "status is 2xx": (r) => r.status >= 200 && r.status < 300 });
}
