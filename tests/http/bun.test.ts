// Runs on Bun only: npx bun test tests/http/bun.test.ts
import { serve } from "../../adapters/bun.ts";
import { httpSuite } from "./suite.ts";

httpSuite("bun", serve);
