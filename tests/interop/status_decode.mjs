// Reads {"encodedList": str, "entries": [{"index": int, "size": int}]} on stdin; decodes the list with
// Digital Bazaar's decodeList (@digitalbazaar/vc-bitstring-status-list) and prints, for each entry, the
// value of its `size` bits from position index*size, most significant first (Bitstring Status List §3.2).
// Its checkStatus reads the one bit at statusListIndex, so it cannot read a statusSize 2 entry itself.
import {decodeList} from '@digitalbazaar/vc-bitstring-status-list';

const chunks = [];
for await (const chunk of process.stdin) {
  chunks.push(chunk);
}
const {encodedList, entries} = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const list = await decodeList({encodedList});
const values = entries.map(({index, size}) => {
  let value = 0;
  for(let position = index * size; position < index * size + size; position++) {
    value = (value << 1) | (list.getStatus(position) ? 1 : 0);
  }
  return value;
});
process.stdout.write(JSON.stringify({length: list.length, values}) + '\n');
