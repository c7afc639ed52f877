// Runs on Deno only: npx deno test -A tests/http/deno.test.ts
import { serve } from "../../adapters/deno.ts";
import { httpSuite } from "./suite.ts";

httpSuite("deno", serve);
