// Verifies Skillproof vc+jwt tokens with npm `jose`, as a platform would with no help but the public documents.
// stdin: {"tokens": {name: compact JWS}, "jwks_url": str, "issuer": str, "did_base": str}
// stdout: {name: {"jwks": outcome, "did": outcome}}; outcome = {"ok": true, "payload"} | {"ok": false, "code"}.
// did_base is where the did:web document is fetched (the server listens on 127.0.0.1, the DID names localhost).
import { createRemoteJWKSet, decodeProtectedHeader, importJWK, jwtVerify } from "jose";

const OPTIONS = { typ: "vc+jwt", algorithms: ["ES256", "EdDSA", "Ed25519"] };

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function outcome(verify) {
  try {
    const { payload, protectedHeader } = await verify();
    return { ok: true, payload, header: protectedHeader };
  } catch (error) {
    return { ok: false, code: error.code ?? error.name, message: String(error.message) };
  }
}

// did:web resolution (did:web §3.2.1): the kid's DID part names the document, its fragment the method.
async function keyFromDidDocument(token, issuer, didBase) {
  const { kid, alg } = decodeProtectedHeader(token);
  const did = kid.split("#")[0];
  if (did !== issuer) throw Object.assign(new Error(`kid ${kid} is not a key of ${issuer}`), { code: "WRONG_DID" });
  const response = await fetch(`${didBase}/.well-known/did.json`);
  const type = response.headers.get("content-type");
  const document = await response.json();
  if (document.id !== did) throw Object.assign(new Error(`document ${document.id} is not ${did}`), { code: "WRONG_DID" });
  if (!document.assertionMethod.includes(kid)) {
    throw Object.assign(new Error(`${kid} is not an assertionMethod`), { code: "NOT_ASSERTION" });
  }
  const method = document.verificationMethod.find((candidate) => candidate.id === kid);
  if (!method || method.type !== "JsonWebKey") {
    throw Object.assign(new Error(`no JsonWebKey ${kid} (content-type ${type})`), { code: "NO_METHOD" });
  }
  return importJWK(method.publicKeyJwk, alg);
}

const input = await readStdin();
const jwks = createRemoteJWKSet(new URL(input.jwks_url));
const results = {};
for (const [name, token] of Object.entries(input.tokens)) {
  results[name] = {
    jwks: await outcome(() => jwtVerify(token, jwks, { ...OPTIONS, issuer: input.issuer })),
    did: await outcome(async () =>
      jwtVerify(token, await keyFromDidDocument(token, input.issuer, input.did_base), { ...OPTIONS, issuer: input.issuer }),
    ),
  };
}
process.stdout.write(JSON.stringify(results));
