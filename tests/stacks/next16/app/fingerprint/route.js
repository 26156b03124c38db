// A route handler computing the fingerprint on the server (Node.js runtime).
import { fingerprint } from 'checkout-guard';

export async function POST(request) {
  return Response.json({ fingerprint: fingerprint(await request.json()) });
}
