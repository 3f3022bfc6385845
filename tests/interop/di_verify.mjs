// Digital Bazaar's verifier on a Skillproof `ldp` credential:
//   node di_verify.mjs <public base URL> <credential.json> [<origin to connect to instead>]
// Offline: contexts come from the npm context packages (and the rest, e.g. DID v1 and OB 3.0.3, which no installed
// package carries, from Skillproof's bundled copies); the DID document and status lists are fetched from the server under
// test and handed to the loader. Prints one JSON line: {verified, errors, statuses: [{purpose, size, value}]}.
import {readFile} from 'node:fs/promises';
import {fileURLToPath} from 'node:url';
import path from 'node:path';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {checkStatus, decodeList} from '@digitalbazaar/vc-bitstring-status-list';

const here = path.dirname(fileURLToPath(import.meta.url));
const [base, credentialPath, origin] = process.argv.slice(2);
const json = async file => JSON.parse(await readFile(file, 'utf8'));
const ours = path.join(here, '..', '..', 'app', 'credentials', 'contexts');
const npm = path.join(here, 'node_modules', '@digitalbazaar');
const contexts = new Map([
  ['https://www.w3.org/ns/credentials/v2', await json(path.join(npm, 'credentials-context/contexts/v2.jsonld'))],
  ['https://w3id.org/security/data-integrity/v2',
    await json(path.join(npm, 'data-integrity-context/contexts/data-integrity-v2.jsonld'))],
  ['https://w3id.org/security/multikey/v1', await json(path.join(npm, 'multikey-context/contexts/multikey-v1.jsonld'))],
  ['https://www.w3.org/ns/credentials/status/v1',
    await json(path.join(npm, 'vc-bitstring-status-list-context/contexts/vc-bitstring-status-list-v1.jsonld'))],
]);
// Any other context Skillproof bundles (e.g. its own vocabulary) comes from its manifest, byte for byte.
const manifest = await json(path.join(ours, 'manifest.json'));
for(const [url, entry] of Object.entries(manifest.contexts)) {
  if(!contexts.has(url)) contexts.set(url, await json(path.join(ours, entry.file)));
}

const get = async (url, accept) => {
  // did:web forbids IP addresses, so the public URL names localhost; connect where the server listens.
  const response = await fetch(origin ? url.replace(base, origin) : url, {headers: {accept}});
  if(!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.json();
};
const didDocument = await get(`${base}/.well-known/did.json`, 'application/did+json, application/json');
const fetched = [];

async function documentLoader(url) {
  if(contexts.has(url)) {
    return {contextUrl: null, documentUrl: url, document: contexts.get(url)};
  }
  const [did, fragment] = url.split('#');
  if(did === didDocument.id) {
    if(!fragment) return {contextUrl: null, documentUrl: url, document: didDocument};
    const method = didDocument.verificationMethod.find(m => m.id === url);
    if(!method) throw new Error(`${url} is not in the DID document`);
    return {contextUrl: null, documentUrl: url, document: {'@context': didDocument['@context'], ...method}};
  }
  if(url.startsWith(`${base}/v1/status-lists/`)) {
    fetched.push(url);
    return {contextUrl: null, documentUrl: url, document: await get(url, 'application/vc')};
  }
  throw new Error(`offline loader: refusing to load ${url}`);
}

const credential = await json(credentialPath);
const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022});
// vc refuses a credential with credentialStatus unless given checkStatus: DB's own for one-bit entries; entries of
// statusSize > 1 (which its checkStatus does not read) are decoded below and judged by the caller.
const oneBit = [credential.credentialStatus ?? []].flat().every(entry => Number(entry.statusSize ?? 1) === 1);
const result = await vc.verifyCredential({credential, suite, documentLoader,
  checkStatus: oneBit ? checkStatus : async () => ({verified: true})});
const errors = [];
if(!result.verified) {
  errors.push(String(result.error?.errors?.[0]?.message ?? result.error?.message ?? 'not verified'));
}

// Status: one bit per entry through checkStatus; entries of statusSize > 1 (one entry giving revocation and
// suspension) decoded with decodeList and read as statusSize bits from index * statusSize, first bit most significant.
const entries = [credential.credentialStatus ?? []].flat();
const statuses = [];
for(const entry of entries) {
  const size = Number(entry.statusSize ?? 1);
  if(size === 1) {
    const checked = await checkStatus({credential: {...credential, credentialStatus: entry}, documentLoader, suite,
      verifyBitstringStatusListCredential: true, verifyMatchingIssuers: true});
    if(!checked.verified) errors.push(`status: ${checked.error?.message ?? 'not verified'}`);
    const value = checked.results?.[0]?.status;
    statuses.push({purpose: entry.statusPurpose, size, value: value === undefined ? null : Number(value)});
    continue;
  }
  const {document: list} = await documentLoader(entry.statusListCredential);
  const listResult = await vc.verifyCredential({credential: list, suite, documentLoader});
  if(!listResult.verified) errors.push('status list proof does not verify');
  const bits = await decodeList({encodedList: list.credentialSubject.encodedList});
  const index = Number(entry.statusListIndex);
  let value = 0;
  for(let i = 0; i < size; i++) value = value * 2 + (bits.getStatus(index * size + i) ? 1 : 0);
  statuses.push({purpose: entry.statusPurpose, size, value});
}
console.log(JSON.stringify({verified: result.verified && errors.length === 0, errors, statuses, fetched}));
