/** The seeded generator tests share (mulberry32, the one the bench's round schedule uses): a seed repeats a run. */
export { seededRandom as random } from "../../src/bench/rounds.js";
