/**
 * An agent attribute, as declared with `--attributes` (`rack:r1;level:2;slots:[1-4]`): a name and
 * exactly one value. Shared by the wire edge (`common/wire`) and the allocator (offer constraints).
 */
export interface Attribute {
  readonly name: string;
  readonly text?: string;
  readonly scalar?: number;
  readonly ranges?: readonly { readonly begin: number; readonly end: number }[];
  /** Not carried by the wire (SET is not an attribute type there); `attributesToWire` rejects it. */
  readonly set?: readonly string[];
}
