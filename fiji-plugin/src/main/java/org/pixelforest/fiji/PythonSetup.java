package org.pixelforest.fiji;

import ij.IJ;
import ij.Prefs;
import ij.gui.GenericDialog;
import ij.macro.Interpreter;

import java.awt.GraphicsEnvironment;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * A Python that sets itself up. The jar carries pixelforest's own wheel; when the Python in use
 * has no pixelforest of the jar's version, the plugin offers (in a macro or batch mode: goes on
 * without asking, unless {@code pixelforest.autosetup} is false) to make a virtual environment in
 * a per-user folder named after the version, from a Python >= 3.10 it finds (the configured one,
 * {@code PATH}, the usual places), with the wheel and its dependencies from the package index
 * ({@code uv} when it is there, else {@code venv} + {@code pip}), and uses it from then on.
 */
public final class PythonSetup {

	static final String AUTO = "pixelforest.autosetup";
	/**
	 * What a Python says of itself: "PF version" (and "AT" the file its pixelforest is imported
	 * from) when it has pixelforest and appose, else "NO major minor". pixelforest is found, and its
	 * version read from its _version.py (a string literal there), without importing it: the import
	 * takes about 0.6 s of CPU, and the worker that starts next imports it anyway. Only where that
	 * file holds no literal is pixelforest imported, as before.
	 */
	static final String CHECK = String.join("\n",
		"import sys",
		"try:",
		" from importlib.util import find_spec",
		" spec = find_spec('pixelforest')",
		" found = spec is not None and find_spec('appose') is not None",
		"except Exception:",
		" found = False",
		"version = None",
		"if found and spec.submodule_search_locations:",
		" try:",
		"  import os",
		"  with open(os.path.join(list(spec.submodule_search_locations)[0], '_version.py'), encoding='utf-8') as f:",
		"   for line in f:",
		"    if line.startswith('__version__ ='):",
		"     v = line.split('=', 1)[1].strip()",
		"     if len(v) > 2 and v[0] == v[-1] and v[0] in ('\"', \"'\") and ' ' not in v:",
		"      version = v[1:-1]",
		" except OSError:",
		"  pass",
		"if found and version is None:",
		" try:",
		"  import pixelforest, appose",
		"  version = pixelforest.__version__",
		" except ImportError:",
		"  found = False",
		"if found:",
		" print('PF', version)",
		" if spec.origin:",
		"  print('AT', spec.origin)",
		"else:",
		" print('NO', sys.version_info[0], sys.version_info[1])",
		"");
	/** The Pythons seen to hold this version's pixelforest, in this JVM: executable -> its pixelforest's file, and {@link #stamp}. */
	private static final Map<String, String[]> READY = new HashMap<>();

	private PythonSetup() {}

	/** This plugin's version: the pixelforest its environment must hold. */
	public static String version() {
		Properties p = new Properties();
		try (InputStream in = PythonSetup.class.getResourceAsStream("/pixelforest-plugin.properties")) {
			if (in != null) p.load(in);
		}
		catch (IOException ignored) { }
		return p.getProperty("version", "unknown");
	}

	/** The folder of the environment this plugin makes (per user, named after the version). */
	public static File envDir() {
		String os = System.getProperty("os.name", "").toLowerCase();
		String home = System.getProperty("user.home");
		File base;
		if (os.contains("win")) {
			String local = System.getenv("LOCALAPPDATA");
			base = new File(local != null ? local : home, "pixelforest");
		}
		else if (os.contains("mac")) base = new File(home, "Library/Application Support/pixelforest");
		else {
			String xdg = System.getenv("XDG_DATA_HOME");
			base = new File(xdg != null && !xdg.isEmpty() ? xdg : home + "/.local/share", "pixelforest");
		}
		return new File(base, "python-" + version());
	}

	static File envPython(File env) {
		return System.getProperty("os.name", "").toLowerCase().contains("win") ? new File(env, "Scripts/python.exe") : new File(env, "bin/python");
	}

	/**
	 * The Python to start the worker with: the configured one when it has this version's
	 * pixelforest, else the environment this plugin made, else a new one (asked for, or made
	 * unattended). Throws with what to do when none can be had.
	 */
	static synchronized String ensure() throws PythonService.PixelForestException {
		String exe = Options.python();
		if (exe.contains(File.separator) && !new File(exe).canExecute())  // chosen by the user: said, not replaced
			throw new PythonService.PixelForestException("The Python executable " + exe + " does not exist.\n"
				+ "Choose another one, or let Pixel Forest set up its own, in Plugins > Pixel Forest > Pixel Forest Options...");
		if (stillReady(exe)) return exe;  // a worker started again: no second look
		String[] probed = probe(exe);
		String found = probed == null ? null : probed[0];
		if (found != null && found.startsWith("PF ")) {
			String v = found.substring(3).trim();
			if (v.equals(version())) return ready(exe, probed[1]);
			if (wheel() == null) return exe;
			IJ.log("Pixel Forest: " + exe + " has pixelforest " + v + "; this plugin is " + version() + ".");
		}
		File managed = envPython(envDir());
		if (!managed.getPath().equals(exe) && managed.canExecute()) {
			String[] m = probe(managed.getPath());
			if (m != null && m[0].equals("PF " + version())) return use(ready(managed.getPath(), m[1]));
		}
		if (wheel() == null) {
			if (found == null) throw new PythonService.PixelForestException(missingPython(exe));
			return exe;  // no wheel to set up from: the worker's own message says what is missing
		}
		boolean unattended = Interpreter.isBatchMode() || GraphicsEnvironment.isHeadless() || ij.Macro.getOptions() != null;
		boolean auto = Prefs.get(AUTO, true) && Boolean.parseBoolean(System.getProperty(AUTO, "true"));
		if (unattended && !auto) throw new PythonService.PixelForestException(PythonService.notInstalled());
		if (!unattended && !ask(found)) throw new PythonService.CancelledException("setting up Python");
		return use(create(envDir()));
	}

	private static String use(String python) {
		Options.setPython(python);
		return python;
	}

	private static String use(File python) {
		return use(python.getPath());
	}

	/**
	 * Whether {@code exe} was seen in this JVM to hold this version's pixelforest, and neither it nor
	 * the file of its pixelforest changed since (a Python replaced, pixelforest installed again or
	 * removed): then a worker started again, after a crash or a change of options, is not preceded
	 * by a second look.
	 */
	private static boolean stillReady(String exe) {
		String[] seen = READY.get(exe);
		return seen != null && seen[1].equals(stamp(exe, seen[0]));
	}

	/** Remembers that {@code exe} holds this version's pixelforest (its file: {@code origin}); returns exe. */
	private static String ready(String exe, String origin) {
		String stamp = origin == null ? null : stamp(exe, origin);
		if (stamp != null) READY.put(exe, new String[] { origin, stamp });
		return exe;
	}

	/** The modification times of {@code exe} (found on PATH when a bare name) and of {@code file}; null when exe is not found. */
	private static String stamp(String exe, String file) {
		String path = exe.contains(File.separator) ? exe : which(exe);
		if (path == null) return null;
		File f = new File(file);
		return new File(path).lastModified() + " " + (f.isFile() ? f.lastModified() : -1);
	}

	private static boolean ask(String found) {
		GenericDialog gd = new GenericDialog("Pixel Forest: set up Python");
		gd.addMessage("Pixel Forest computes in Python, and " + (found == null ? "no Python was found where it looked."
			: "the Python in use (" + Options.python() + ") has no pixelforest " + version() + ".") + "\n\n"
			+ "Make its own Python environment now? It goes into\n" + envDir() + "\n"
			+ "and its packages (about 300 MB) come from the Python package index: a few minutes, once.");
		gd.enableYesNoCancel("Set up", "Not now");
		gd.hideCancelButton();
		gd.showDialog();
		return gd.wasOKed();
	}

	/** Makes the environment: a Python >= 3.10, a virtual environment, the wheel with its dependencies. */
	static File create(File env) throws PythonService.PixelForestException {
		String base = findBasePython();
		if (base == null) throw new PythonService.PixelForestException(missingPython(Options.python()));
		File wheel = extractWheel(env.getParentFile());
		File tmp = new File(env.getPath() + ".partial");
		deleteTree(tmp);
		deleteTree(env);
		String uv = which("uv");
		IJ.log("Pixel Forest: setting up Python " + version() + " in " + env + " from " + base + (uv != null ? " with uv" : "") + "...");
		IJ.showStatus("Pixel Forest: setting up Python (once; a few minutes)...");
		try {
			File python = envPython(tmp);
			if (uv != null) {
				run("making the environment", uv, "venv", "--python", base, tmp.getPath());
				run("installing pixelforest and its packages", uv, "pip", "install", "--python", python.getPath(), wheel.getPath() + "[fiji]");
			}
			else {
				run("making the environment", base, "-m", "venv", tmp.getPath());
				run("installing pixelforest and its packages", python.getPath(), "-m", "pip", "install", "--disable-pip-version-check",
					wheel.getPath() + "[fiji]");
			}
			// the compiled kernels are built now, once, not in the user's first command
			run("compiling pixelforest's filters and forest (once)", python.getPath(), "-m", "pixelforest.warmup");
			Files.move(tmp.toPath(), env.toPath(), StandardCopyOption.ATOMIC_MOVE);
		}
		catch (IOException e) {
			deleteTree(tmp);
			throw new PythonService.PixelForestException("Could not set up Python in " + env + ": " + e.getMessage()
				+ "\nWithout the package index (offline?), install Python >= 3.10 and run\n  pip install \"" + wheel
				+ "[fiji]\"\nthen choose that Python in Plugins > Pixel Forest > Pixel Forest Options...");
		}
		finally {
			IJ.showProgress(1.0);
		}
		IJ.log("Pixel Forest: Python " + version() + " is ready (" + envPython(env) + ").");
		return envPython(env);
	}

	/** Runs a set-up step, its output going to the Log (a line each few seconds at most) and the status bar. */
	private static void run(String what, String... cmd) throws IOException {
		ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
		pb.environment().put("UV_PYTHON_DOWNLOADS", "never");  // uv must not fetch a Python of its own
		pb.environment().put("PIP_DISABLE_PIP_VERSION_CHECK", "1");
		IJ.showStatus("Pixel Forest: " + what + "...");
		Process p = pb.start();
		List<String> tail = new ArrayList<>();
		long last = 0;
		try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
			for (String line; (line = r.readLine()) != null; ) {
				tail.add(line);
				if (tail.size() > 20) tail.remove(0);
				if (System.currentTimeMillis() - last > 3000) {
					IJ.log("  " + what + ": " + line);
					IJ.showStatus("Pixel Forest: " + what + ": " + line);
					last = System.currentTimeMillis();
				}
			}
		}
		try {
			if (!p.waitFor(60, TimeUnit.MINUTES) || p.exitValue() != 0)
				throw new IOException(what + " failed:\n" + String.join("\n", tail));
		}
		catch (InterruptedException e) {
			p.destroyForcibly();
			Thread.currentThread().interrupt();
			throw new IOException(what + " was interrupted");
		}
	}

	/** The first Python >= 3.10 with venv: the configured one, PATH, the usual install places. */
	static String findBasePython() {
		Set<String> candidates = new LinkedHashSet<>();
		candidates.add(Options.python());
		for (String n : Arrays.asList("python3", "python3.13", "python3.12", "python3.11", "python3.10", "python", "py")) {
			String w = which(n);
			if (w != null) candidates.add(w);
		}
		String home = System.getProperty("user.home");
		candidates.addAll(Arrays.asList("/usr/bin/python3", "/usr/local/bin/python3", "/opt/homebrew/bin/python3",
			"/opt/local/bin/python3", home + "/.pyenv/shims/python3", home + "/miniforge3/bin/python", home + "/miniconda3/bin/python",
			home + "/anaconda3/bin/python", "/Library/Frameworks/Python.framework/Versions/Current/bin/python3"));
		for (String c : candidates) {
			String[] out = probe(c);
			if (out == null) continue;
			String[] v = out[0].split("\\s+");
			try {
				if (v[0].equals("PF") || Integer.parseInt(v[1]) > 3 || (Integer.parseInt(v[1]) == 3 && Integer.parseInt(v[2]) >= 10)) return c;
			}
			catch (RuntimeException ignored) { }
		}
		return null;
	}

	/**
	 * What a Python says of itself ({@link #CHECK}): "PF version" or "NO major minor", and with PF
	 * the file of its pixelforest (null when not said); null when it does not run.
	 */
	static String[] probe(String exe) {
		if (exe == null || exe.isEmpty() || (exe.contains(File.separator) && !new File(exe).canExecute())) return null;
		try {
			Process p = new ProcessBuilder(exe, "-c", CHECK).redirectErrorStream(true).start();
			String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
			if (!p.waitFor(120, TimeUnit.SECONDS)) { p.destroyForcibly(); return null; }
			String verdict = null, origin = null;
			for (String line : out.split("\n")) {
				if (verdict == null && (line.startsWith("PF ") || line.startsWith("NO "))) verdict = line.trim();
				else if (verdict != null && verdict.startsWith("PF ") && line.startsWith("AT ")) origin = line.substring(3).trim();
			}
			return verdict == null ? null : new String[] { verdict, origin };
		}
		catch (IOException e) {
			return null;
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			return null;
		}
	}

	/** The wheel carried in the jar, or null (a jar built without it). */
	static String wheel() {
		return PythonSetup.class.getResource("/python/pixelforest-" + version() + "-py3-none-any.whl") == null ? null
			: "pixelforest-" + version() + "-py3-none-any.whl";
	}

	private static File extractWheel(File dir) throws PythonService.PixelForestException {
		String name = wheel();
		File out = new File(dir, name);
		try (InputStream in = PythonSetup.class.getResourceAsStream("/python/" + name)) {
			Files.createDirectories(dir.toPath());
			File tmp = File.createTempFile("pixelforest", ".whl.partial", dir);
			Files.copy(in, tmp.toPath(), StandardCopyOption.REPLACE_EXISTING);
			Files.move(tmp.toPath(), out.toPath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
			return out;
		}
		catch (IOException e) {
			throw new PythonService.PixelForestException("Cannot write to " + dir + " (" + e.getMessage() + "); set up Python by hand:\n"
				+ "pip install pixelforest[fiji] in an environment, then choose its python in Pixel Forest Options...");
		}
	}

	static String which(String name) {
		String path = System.getenv("PATH");
		if (path == null) return null;
		boolean win = System.getProperty("os.name", "").toLowerCase().contains("win");
		for (String dir : path.split(File.pathSeparator)) {
			for (String ext : win ? new String[] { ".exe", "" } : new String[] { "" }) {
				File f = new File(dir, name + ext);
				if (f.isFile() && f.canExecute()) return f.getPath();
			}
		}
		return null;
	}

	static String missingPython(String configured) {
		return "Pixel Forest needs Python 3.10 or newer, and none was found (" + configured + " and the usual places).\n"
			+ "Install Python from python.org (or your system's packages), then run the command again:\n"
			+ "Pixel Forest sets up its own environment from it.";
	}

	static void deleteTree(File f) {
		if (!f.exists()) return;
		File[] children = f.isDirectory() && !Files.isSymbolicLink(f.toPath()) ? f.listFiles() : null;
		if (children != null) for (File c : children) deleteTree(c);
		f.delete();
	}
}
