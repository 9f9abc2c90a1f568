// Turns CMake's and the build tool's output into one short line per step, so a source build on
// install says what it is doing ("configuring", "[12/57] compiling native/engine/cpu/kernels.cc",
// "linking trt_vla.node") instead of either 200 lines of CMake detail or nothing at all.
//
// Ninja (cmake-js's generator when ninja is installed) prints "[12/57] Building CXX object ..." per
// finished edge when its output is not a terminal; Unix Makefiles (JetPack has no ninja by default)
// print "[ 12%] Building CXX object ...". Everything else the tools print is kept in the full log and
// shown when the build fails; compiler diagnostics and CMake warnings/errors also pass through.

const NINJA = /^\[(\d+)\/(\d+)\]\s+(.*)$/;
const MAKE = /^\[\s*(\d+)%\]\s+(.*)$/;

/**
 * One line of build output, classified. `step`/`total` come from ninja, `percent` from make.
 * @returns {{ kind: 'compile' | 'link' | 'other-step' | 'status' | 'diagnostic' | 'noise', step?: number, total?: number, percent?: number, what?: string, text: string }}
 */
export function classifyBuildLine(rawLine) {
  const text = rawLine.replace(/\r$/, '');
  const ninja = NINJA.exec(text);
  const make = ninja ? undefined : MAKE.exec(text);
  if (ninja || make) {
    const action = ninja ? ninja[3] : make[2];
    const counter = ninja ? { step: Number(ninja[1]), total: Number(ninja[2]) } : { percent: Number(make[1]) };
    const compiled = /^Building (?:CXX|C|CUDA) object (\S+)/.exec(action);
    if (compiled) return { kind: 'compile', ...counter, what: sourceOfObject(compiled[1]), text };
    const linked = /^Linking (?:CXX|C|CUDA) (?:shared|static) (?:library|module) (\S+)/.exec(action) ?? /^Linking (?:CXX|C|CUDA) executable (\S+)/.exec(action);
    if (linked) return { kind: 'link', ...counter, what: linked[1].split('/').pop(), text };
    return { kind: 'other-step', ...counter, what: action, text };
  }
  // Our own CMake summary lines ("-- trt-vla: CUDA ON 13.0 [87;90]").
  if (/^-- trt-vla:/.test(text)) return { kind: 'status', what: `CMake: ${text.slice('-- trt-vla: '.length)}`, text };
  if (/\b(error|warning)\b|^CMake (Error|Warning)|^FAILED:|^ninja: |^make(\[\d+\])?: \*\*\*/i.test(text)) return { kind: 'diagnostic', text };
  return { kind: 'noise', text };
}

/** "CMakeFiles/trt_vla_core.dir/native/engine/cpu/kernels.cc.o" -> "native/engine/cpu/kernels.cc" */
export function sourceOfObject(objectPath) {
  const withoutDir = objectPath.replace(/^.*?CMakeFiles\/[^/]+\.dir\//, '');
  return withoutDir.replace(/\.(o|obj)$/, '');
}

export function formatDuration(ms) {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * A reporter for one build: feed it the tools' output (any chunking), it calls `say` with one
 * summarized line per step and keeps the whole log for a failure report.
 * `sayThrottled` (optional) gets the same step lines, at most one per `throttleMs`, plus every
 * phase change: for the terminal behind npm's back, where a line per object would be too much.
 */
export function createBuildReporter({ say, sayThrottled, throttleMs = 20_000, now = Date.now } = {}) {
  const started = now();
  const log = [];
  let pending = '';
  let phase = 'configure';
  let lastThrottled = -Infinity;

  const emit = (line, { important = false } = {}) => {
    say(line);
    if (!sayThrottled) return;
    const t = now();
    if (important || t - lastThrottled >= throttleMs) {
      lastThrottled = t;
      sayThrottled(line);
    }
  };

  const handle = (rawLine) => {
    log.push(rawLine);
    const line = classifyBuildLine(rawLine);
    const elapsed = formatDuration(now() - started);
    switch (line.kind) {
      case 'compile':
      case 'link':
      case 'other-step': {
        const counter = line.step !== undefined ? `[${line.step}/${line.total}]` : `[${String(line.percent).padStart(3)}%]`;
        // Ninja prints an edge when it has finished, make before it starts.
        const done = line.step !== undefined;
        const verb = line.kind === 'compile' ? (done ? 'compiled' : 'compiling') : line.kind === 'link' ? (done ? 'linked' : 'linking') : '';
        const first = phase !== 'build';
        phase = 'build';
        const last = line.step !== undefined && line.step === line.total;
        emit(`${counter} ${verb ? `${verb} ` : ''}${line.what} (${elapsed})`, { important: first || last || line.kind === 'link' });
        break;
      }
      case 'status':
        emit(line.what, { important: true });
        break;
      case 'diagnostic':
        say(line.text);
        break;
      default:
        break;
    }
  };

  return {
    /** Feeds a chunk of output (stdout or stderr). */
    write(chunk) {
      pending += String(chunk);
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) handle(l);
    },
    /** Flushes a last partial line. */
    end() {
      if (pending.trim()) handle(pending);
      pending = '';
    },
    /** Marks the start of a phase ("configuring", "building") with a line. */
    phase(name, detail = '') {
      phase = name;
      emit(`${name}${detail ? ` ${detail}` : ''} (${formatDuration(now() - started)})`, { important: true });
    },
    elapsed: () => formatDuration(now() - started),
    log: () => log.slice(),
  };
}
