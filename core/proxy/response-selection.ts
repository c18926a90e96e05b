/**
 * RFC 3261 §16.7 step 6, choosing the best final response once every branch has answered, and
 * the §16.7 rules about which responses end a fork. Pure, so each rule has a test of its own.
 */

export interface BranchOutcome {
  status: number;
  /** Header values to aggregate: WWW-Authenticate / Proxy-Authenticate from 401/407 (§16.7 step 7). */
  challenges?: { name: string; value: string }[];
}

/**
 * "The proxy MUST choose from the 6xx class responses if any exist in the context. If no 6xx class
 * responses are present, the proxy SHOULD choose from the lowest response class stored ... The
 * proxy MAY select any response within that chosen class." 503 is passed on as 500 (§16.7 step 6:
 * "If the only response ... is a 503 (Service Unavailable) ... the proxy SHOULD generate a 500").
 */
export function chooseBestResponse(outcomes: BranchOutcome[]): { status: number; aggregateChallenges: boolean } {
  if (outcomes.length === 0) return { status: 408, aggregateChallenges: false };
  const sixes = outcomes.filter((o) => o.status >= 600);
  if (sixes.length) return { status: sixes[0]!.status, aggregateChallenges: false };
  const best = [...outcomes].sort((a, b) => classRank(a.status) - classRank(b.status) || preference(a.status) - preference(b.status))[0]!;
  let status = best.status;
  if (status === 503) status = 500;
  // 430 Flow Failed is hop-by-hop (RFC 5626 §5.3): never pass it upstream; the UA is simply unreachable.
  if (status === 430) status = 480;
  return { status, aggregateChallenges: status === 401 || status === 407 };
}

function classRank(status: number): number {
  return Math.floor(status / 100);
}

/** Within a class prefer responses that tell the caller something actionable. */
function preference(status: number): number {
  switch (status) {
    case 401:
    case 407:
      return 0;
    case 486:
      return 1;
    case 480:
      return 2;
    case 404:
      return 3;
    case 408:
      return 8;
    case 430:
      return 9;
    default:
      return 5;
  }
}

/** A branch failure that means "this flow is dead, try the instance's next flow" (RFC 5626 §5.3). */
export function isFlowFailure(status: number): boolean {
  return status === 430 || status === 408 || status === 503;
}
