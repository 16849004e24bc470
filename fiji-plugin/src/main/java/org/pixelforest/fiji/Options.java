package org.pixelforest.fiji;

import ij.Prefs;

/** Plugin settings (IJ_Prefs.txt): the worker's Python, its threads and memory budget. */
public final class Options {

	static final String PYTHON = "pixelforest.python", THREADS = "pixelforest.threads", MEMORY = "pixelforest.memory";

	/** The features a new user gets (the engine's default preset). */
	static final String DEFAULT_FEATURES = "pixelforest-default";

	private Options() {}

	/** The Python executable: the one chosen in Options, then -Dpixelforest.python, then $PIXELFOREST_PYTHON, then python3. */
	public static String python() {
		String p = Prefs.get(PYTHON, "");
		if (!p.isEmpty()) return p;
		p = System.getProperty(PYTHON);
		if (p != null && !p.isEmpty()) return p;
		p = System.getenv("PIXELFOREST_PYTHON");
		return p != null && !p.isEmpty() ? p : "python3";
	}

	public static int threads() { return (int) Prefs.get(THREADS, 0); }

	public static int memoryMB() { return (int) Prefs.get(MEMORY, 2048); }

	/** The Python the plugin set up for itself (kept in the preferences, as if chosen in Options). */
	static void setPython(String python) {
		Prefs.set(PYTHON, python);
		Prefs.savePreferences();
	}

	static void set(String python, int threads, int memoryMB) {
		Prefs.set(PYTHON, python);
		Prefs.set(THREADS, threads);
		Prefs.set(MEMORY, memoryMB);
		Prefs.savePreferences();
	}
}
