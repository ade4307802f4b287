// The module the chaos run's worker processes load: the apps of the shapes named in CHAOS_SHAPES (default all),
// all in the run's namespace (CHAOS_NS) with its guarantee (CHAOS_GUARANTEE) and partition count
// (CHAOS_PARTITIONS). The harness (chaos.ts) feeds them and checks their outputs and state.
import type { AppDefinition } from '@dirigo/core';
import { parseShapes, type ShapeEnv, type ShapeName, shapeEnv } from './names.ts';
import { fanOutInApp } from './shapes/fan-out-in.ts';
import { oneHopApp } from './shapes/one-hop.ts';
import { twoHopTimerApp } from './shapes/two-hop-timer.ts';
import { windowedApp } from './shapes/windowed.ts';

const builders: Record<ShapeName, (e: ShapeEnv) => AppDefinition> = {
  'one-hop': oneHopApp,
  'two-hop-timer': twoHopTimerApp,
  'fan-out-in': fanOutInApp,
  windowed: windowedApp,
};

export const chaosApps = (env: NodeJS.ProcessEnv = process.env): AppDefinition[] => {
  const e = shapeEnv(env);
  return parseShapes(env.CHAOS_SHAPES).map((s) => builders[s](e));
};

export default chaosApps();
