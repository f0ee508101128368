// One function that returns a ready WebGPU device, in Node (Dawn via the npm package `webgpu`) or in a
// browser (navigator.gpu), with the capabilities this engine cares about detected once.

export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

export interface Capabilities {
  /** 'node' (Dawn) or 'browser'. */
  runtime: 'node' | 'browser';
  adapter: { vendor: string; architecture: string; device: string; description: string };
  /** True for SwiftShader and other CPU implementations of Vulkan. */
  software: boolean;
  f16: boolean;
  subgroups: boolean;
  subgroupMinSize: number;
  subgroupMaxSize: number;
  subgroupMatrix: boolean;
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
  timestampQuery: boolean;
  /**
   * True when Tint's bounds clamps are off (Node's default, Dawn toggle `disable_robustness`); always
   * false in browsers, which keep robustness on whatever is asked.
   */
  robustnessDisabled: boolean;
  limits: Record<string, number>;
  features: string[];
}

export interface DeviceOptions {
  /**
   * Keep the bounds clamps Tint inserts into every kernel ("robustness"). Node default: false (Dawn
   * toggle `disable_robustness`; only this project's kernels run there and every shape is checked on
   * the CPU before a launch: docs/kernels/robustness.md). Browsers always keep robustness on, whatever
   * is asked. Environment: TOMA_ROBUST=1 (or 0) when the option is not given.
   */
  robust?: boolean;
  /**
   * @deprecated Robustness is off by default in Node now: leave this out (or use `robust`). Kept for one
   * release as an alias: `true` is `robust: false` (the default), `false` is `robust: true`.
   */
  unsafeDisableRobustness?: boolean;
  /**
   * Guard mode (tests and diagnosis): canaries around every storage buffer, checked after every launch
   * and copy; sync() and readback throw naming the first launch that wrote outside its buffer
   * (src/gpu/guard.ts). Default: environment TOMA_GUARD=1, else off.
   */
  guard?: boolean;
  /** Pretend these features are absent, to exercise fallbacks. */
  disable?: { f16?: boolean; subgroups?: boolean; subgroupMatrix?: boolean; timestampQuery?: boolean };
  powerPreference?: GPUPowerPreference;
  /** Extra Dawn toggles (Node only), e.g. ['dump_shaders']. */
  dawnToggles?: string[];
}

export interface GpuDevice {
  device: GPUDevice;
  caps: Capabilities;
  /** Guard mode for the runtimes made on this device (DeviceOptions.guard, resolved). */
  guard: boolean;
  /** Resolves with a reason if the device is lost; never rejects. */
  lost: Promise<string>;
  /** Set once the device is lost. */
  lostReason: string | null;
}

export class NoAdapterError extends Error {
  constructor(detail: string) {
    super(
      `No WebGPU adapter is available (${detail}).\n` +
        '  In Node this engine uses Dawn from the npm package "webgpu", which needs a Vulkan driver: ' +
        'install the GPU vendor driver, or on a machine without a GPU install Debian\'s "chromium" and ' +
        '"libvulkan1" packages and set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (SwiftShader).\n' +
        '  In a browser, use a recent Chrome/Edge with WebGPU enabled.\n' +
        '  Or run on the CPU with --backend cpu.',
    );
    this.name = 'NoAdapterError';
  }
}

// Dawn's instance must stay reachable for the life of the process: when it was garbage-collected
// mid-run the H100 process crashed (see shared/docs/webgpu.md). Keyed by the toggles it was made with.
const dawnInstances = new Map<string, GPU>();

async function nodeGpu(toggles: string[]): Promise<GPU> {
  const key = toggles.join(',');
  let gpu = dawnInstances.get(key);
  if (!gpu) {
    const env = process.env;
    env.XDG_RUNTIME_DIR ??= '/tmp'; // the Vulkan loader complains without it
    // Machines without a GPU driver: offer SwiftShader (from Debian's chromium) next to whatever Vulkan
    // drivers exist. A hardware adapter still wins for 'high-performance'.
    const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
    if (
      !env.VK_ICD_FILENAMES &&
      !env.VK_DRIVER_FILES &&
      !env.VK_ADD_DRIVER_FILES &&
      (await fileExists(swiftshader))
    ) {
      env.VK_ADD_DRIVER_FILES = swiftshader;
    }
    const mod = 'webgpu'; // kept in a variable so browser bundlers do not try to resolve it
    const { create, globals } = (await import(/* @vite-ignore */ mod)) as {
      create: (flags: string[]) => GPU;
      globals: Record<string, unknown>;
    };
    Object.assign(globalThis, globals);
    // Timestamps unquantised: with quantisation on, H100 kernel times came back in 32.8 µs steps.
    gpu = create([`enable-dawn-features=${key}`, 'disable-dawn-features=timestamp_quantization']);
    dawnInstances.set(key, gpu);
  }
  return gpu;
}

async function fileExists(path: string): Promise<boolean> {
  const fsName = 'node:fs';
  const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs');
  return fs.existsSync(path);
}

/** A boolean environment variable (Node only): '1'/'true' or '0'/'false'; undefined when unset or elsewhere. */
export function envFlag(name: string): boolean | undefined {
  const g = globalThis as { process?: { env?: Record<string, string | undefined> } };
  const v = g.process?.env?.[name]?.trim().toLowerCase();
  if (v === undefined || v === '') return undefined;
  if (v === '1' || v === 'true' || v === 'yes' || v === 'on') return true;
  if (v === '0' || v === 'false' || v === 'no' || v === 'off') return false;
  throw new TypeError(`${name}=${v}: expected 1 or 0`);
}

/**
 * Whether kernels keep Tint's bounds clamps, from the options (the deprecated alias included) and
 * TOMA_ROBUST. Browsers ignore the answer: they are always robust.
 */
export function wantsRobust(opts: DeviceOptions): boolean {
  const alias = opts.unsafeDisableRobustness === undefined ? undefined : !opts.unsafeDisableRobustness;
  if (opts.robust !== undefined && alias !== undefined && opts.robust !== alias) {
    throw new TypeError(
      `robust: ${opts.robust} contradicts the deprecated unsafeDisableRobustness: ${opts.unsafeDisableRobustness}; give only robust`,
    );
  }
  return opts.robust ?? alias ?? envFlag('TOMA_ROBUST') ?? false;
}

/** Guard mode from the option, else TOMA_GUARD. */
export function wantsGuard(opts: DeviceOptions): boolean {
  return opts.guard ?? envFlag('TOMA_GUARD') ?? false;
}

function isNode(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; window?: unknown };
  return !!g.process?.versions?.node && g.window === undefined;
}

export async function requestGpu(opts: DeviceOptions = {}): Promise<GpuDevice> {
  const runtime: 'node' | 'browser' = isNode() ? 'node' : 'browser';
  let gpu: GPU;
  const robust = runtime === 'browser' || wantsRobust(opts);
  if (runtime === 'node') {
    const toggles = ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'];
    if (!robust) toggles.push('disable_robustness');
    toggles.push(...(opts.dawnToggles ?? []));
    try {
      gpu = await nodeGpu(toggles);
    } catch (e) {
      throw new NoAdapterError(`could not load the npm package "webgpu": ${(e as Error).message}`);
    }
  } else {
    const nav = (globalThis as { navigator?: Navigator }).navigator;
    if (!nav?.gpu) throw new NoAdapterError('this browser has no navigator.gpu');
    gpu = nav.gpu;
  }

  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new NoAdapterError('requestAdapter() returned null');

  const dis = opts.disable ?? {};
  const has = (f: string) => adapter.features.has(f);
  const wantF16 = has('shader-f16') && !dis.f16;
  const wantSubgroups = has('subgroups') && !dis.subgroups;
  const sgmFeature = 'chromium-experimental-subgroup-matrix';
  const wantSgm = wantSubgroups && wantF16 && has(sgmFeature) && !dis.subgroupMatrix;
  const wantTimestamps = has('timestamp-query') && !dis.timestampQuery;

  const requiredFeatures: GPUFeatureName[] = [];
  if (wantF16) requiredFeatures.push('shader-f16');
  if (wantSubgroups) requiredFeatures.push('subgroups' as GPUFeatureName);
  if (wantSgm) requiredFeatures.push(sgmFeature as GPUFeatureName);
  if (wantTimestamps) requiredFeatures.push('timestamp-query');
  if (has('subgroup-size-control') && wantSubgroups)
    requiredFeatures.push('subgroup-size-control' as GPUFeatureName);

  // Ask for everything the adapter offers: storage bindings of GBs, 48 KiB workgroup memory, ...
  const requiredLimits: Record<string, number> = {};
  const limits: Record<string, number> = {};
  const al = adapter.limits as unknown as Record<string, number>;
  for (const key in al) {
    const v = al[key];
    if (typeof v === 'number') {
      requiredLimits[key] = v;
      limits[key] = v;
    }
  }

  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const infoAny = info as unknown as Record<string, unknown>;
  const configs = ((infoAny.subgroupMatrixConfigs as SubgroupMatrixConfig[] | undefined) ?? []).map((c) => ({
    componentType: String(c.componentType),
    resultComponentType: String(c.resultComponentType),
    M: c.M,
    N: c.N,
    K: c.K,
  }));
  const desc = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`;
  const caps: Capabilities = {
    runtime,
    adapter: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
    },
    software:
      /swiftshader|llvmpipe|lavapipe|software/i.test(desc) || (infoAny.isFallbackAdapter as boolean) === true,
    f16: wantF16,
    subgroups: wantSubgroups,
    subgroupMinSize: (infoAny.subgroupMinSize as number | undefined) ?? 0,
    subgroupMaxSize: (infoAny.subgroupMaxSize as number | undefined) ?? 0,
    subgroupMatrix: wantSgm && configs.some((c) => c.componentType === 'f16'),
    subgroupMatrixConfigs: configs,
    timestampQuery: wantTimestamps,
    robustnessDisabled: !robust,
    limits,
    features: [...adapter.features].sort(),
  };

  const handle: GpuDevice = {
    device,
    caps,
    guard: wantsGuard(opts),
    lostReason: null,
    lost: Promise.resolve(''),
  };
  handle.lost = device.lost.then((i) => {
    handle.lostReason = `${i.reason ?? 'unknown'}: ${i.message || 'device lost'}`;
    return handle.lostReason;
  });
  return handle;
}
