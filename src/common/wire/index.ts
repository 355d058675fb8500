/**
 * The wire edge: conversions between berth.v1 messages (generated types) and Berth's domain data,
 * with validation that names the field and the value of every problem. Pure functions, no I/O.
 *
 * `xxxFromWire` functions throw one `ValidationError` listing every problem; `readXxx` variants
 * record into a caller's `Problems` collector instead, for validators that check many fields.
 * `xxxToWire` functions return the decoded (`__Output`) message shape, which encoders also accept.
 */
export * from './problems';
export { enumName, readBigInt, readDouble, readSafeUint, textProblem, type Read } from './values';
export * from './labels';
export * from './resources';
export * from './quantities';
export * from './attributes';
export * from './time';
