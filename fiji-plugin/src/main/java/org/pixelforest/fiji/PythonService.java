package org.pixelforest.fiji;

import ij.IJ;
import org.apposed.appose.NDArray;
import org.apposed.appose.Service;
import org.apposed.appose.TaskEvent;

import java.io.File;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.pixelforest.fiji.Protocol.Out;

/**
 * The one long-lived Python worker (Appose) behind every Pixel Forest command.
 *
 * <p>Started on first use with the Python executable from Options, restarted
 * when it has died or the executable changed. Requests run as
 * {@code pixelforest.worker.handle(task, request, params, image)}; images cross
 * in shared memory. Progress goes to ImageJ's progress bar and status line; Esc
 * cancels; Python errors come back as readable messages.</p>
 */
public final class PythonService {

	static final String WORKER = "import appose.python_worker; appose.python_worker.main()";
	static final String SCRIPT = "import pixelforest.worker as _pfw\n_pfw.handle(task, request, params, image)\n";

	private static volatile Service service;
	private static String serviceExe;
	/** How many workers were started: a live panel whose worker is not the current one opens its images again. */
	private static volatile int generation;

	static {
		// Quitting ImageJ (or System.exit from a script) ends the worker too, even while a command
		// runs: no lock is taken here, since the running command holds it.
		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			Service s = service;
			if (s != null && s.isAlive()) kill(s);
		}, "pixelforest-worker-shutdown"));
	}

	private PythonService() {}

	/** A failure to show the user (already readable). */
	public static class PixelForestException extends Exception {
		public PixelForestException(String message) { super(message); }
	}

	/** The user pressed Esc. */
	public static class CancelledException extends PixelForestException {
		public CancelledException(String what) { super(what + " was cancelled"); }
	}

	static synchronized Service service() throws PixelForestException {
		if (service != null && service.isAlive() && Options.python().equals(serviceExe)) return service;
		stop();
		String exe = PythonSetup.ensure();  // this version's pixelforest, set up on first use if need be
		try {
			Map<String, String> env = new HashMap<>();
			if (Options.threads() > 0) {
				env.put("NUMBA_NUM_THREADS", String.valueOf(Options.threads()));
				env.put("OMP_NUM_THREADS", String.valueOf(Options.threads()));
			}
			env.put("PIXELFOREST_WORKER_MEMORY_MB", String.valueOf(Options.memoryMB()));
			// glibc raises its mmap threshold after each large array is freed, so that later ones come
			// from the heap and are never given back: a long-lived worker whose rounds allocate arrays
			// of a few MB grew by about 2 MB a round. A fixed threshold keeps large arrays mapped and
			// returned (worker memory flat over 60 rounds). Other C libraries ignore the variable.
			env.put("MALLOC_MMAP_THRESHOLD_", "131072");
			service = new Service(new File(System.getProperty("user.home")), env, exe, "-c", WORKER).syntax("python")
				.init("import numpy");  // on the main thread first: Appose advises it (a numpy import in a task can hang on Windows)
			if (IJ.debugMode || Boolean.getBoolean("pixelforest.debug")) service.debug(PythonService::debugLine);
			serviceExe = exe;
			generation++;
		}
		catch (RuntimeException e) {
			throw new PixelForestException("Could not start Python (" + exe + "): " + e.getMessage());
		}
		return service;
	}

	/**
	 * With ImageJ's debug mode (or -Dpixelforest.debug=true): the worker's stderr (warnings; its
	 * threads' stacks on SIGUSR1), messages it sent that were not understood, and its exit, on stderr.
	 * The regular protocol messages are left out.
	 */
	static void debugLine(String line) {
		String message = line.replaceFirst("^\\[[^\\]]*\\]\\s?", "");
		if (!message.startsWith("{")) System.err.println("Pixel Forest worker: " + line);
	}

	/**
	 * Kills a worker. Killing closes its output streams under the threads that read them, and
	 * Appose reports that to the debug listener as an IOException's stack trace: noise we caused,
	 * so the listener is detached first.
	 */
	private static void kill(Service s) {
		s.debug(null);
		s.kill();
	}

	/** Stops the worker (it restarts on the next call). */
	public static synchronized void stop() {
		if (service != null) {
			try { service.close(); } catch (Exception ignored) { }
			if (service.isAlive()) kill(service);
		}
		service = null;
		serviceExe = null;
	}

	/** The worker's process id (starting it if needed), for macros: call("org.pixelforest.fiji.PythonService.workerPid"). */
	public static String workerPid() {
		ClassLoader saved = Thread.currentThread().getContextClassLoader();
		Thread.currentThread().setContextClassLoader(PythonService.class.getClassLoader());
		try {
			return String.valueOf(call(Protocol.PING, null, null, "starting Python").get(Out.PID));
		}
		catch (PixelForestException e) {
			return "error: " + e.getMessage();
		}
		finally {
			Thread.currentThread().setContextClassLoader(saved);
		}
	}

	/** The number of the current worker (a new one after a restart); 0 before the first. */
	static int generation() { return generation; }

	public static synchronized boolean isRunning() {
		return service != null && service.isAlive();
	}

	/** Runs a request in the worker and returns its outputs (one at a time: a second command waits). */
	public static Map<String, Object> call(String request, Map<String, Object> params, NDArray image, String what)
		throws PixelForestException
	{
		return call(request, params, image, what, () -> false);
	}

	/**
	 * As {@link #call(String, Map, NDArray, String)}, also cancelled (as by Esc) as soon as
	 * {@code cancel} says so: the live panel's rounds that newer labels made stale.
	 */
	public static synchronized Map<String, Object> call(String request, Map<String, Object> params, NDArray image, String what,
		BooleanSupplier cancel) throws PixelForestException
	{
		Service svc = service();
		Map<String, Object> inputs = new HashMap<>();
		inputs.put(Protocol.Task.REQUEST, request);
		inputs.put(Protocol.Task.PARAMS, params == null ? new HashMap<String, Object>() : params);
		inputs.put(Protocol.Task.IMAGE, image);
		Service.Task task;
		try {
			task = svc.task(SCRIPT, inputs);
		}
		catch (IOException e) {
			stop();
			throw new PixelForestException("The Python worker is not reachable (" + e.getMessage() + "); it will restart on the next command.");
		}
		// The end of a task is taken from its terminal event, not from task.status: Appose (0.9.0)
		// sets the status before it fills task.outputs, and hands the event to listeners after.
		// Polling the status could read outputs still empty ("For input string: "null"").
		CountDownLatch done = new CountDownLatch(1);
		task.listen(e -> {
			progress(e);
			if (e.responseType.isTerminal()) done.countDown();
		});
		IJ.resetEscape();
		task.start();
		await(task, done, what, cancel);
		IJ.showProgress(1.0);
		return outputs(svc, task, what);
	}

	/** Waits for the task's end, cancelling it on Esc or when {@code cancel} says so. */
	private static void await(Service.Task task, CountDownLatch done, String what, BooleanSupplier cancel) throws CancelledException {
		boolean cancelSent = false;
		long finishedSeen = 0;
		try {
			while (!done.await(20, TimeUnit.MILLISECONDS)) {
				if (!cancelSent && (IJ.escapePressed() || cancel.getAsBoolean())) {
					task.cancel();
					cancelSent = true;
					IJ.showStatus("Pixel Forest: cancelling " + what + "...");
				}
				// a finished task always sends its event; should one ever not, do not wait forever
				if (task.status.isFinished() && finishedSeen == 0) finishedSeen = System.currentTimeMillis();
				if (finishedSeen > 0 && System.currentTimeMillis() - finishedSeen > 5000) break;
			}
		}
		catch (InterruptedException e) {
			task.cancel();
			Thread.currentThread().interrupt();
			throw new CancelledException(what);
		}
	}

	/** A finished task's outputs, or its failure as a readable exception. */
	private static Map<String, Object> outputs(Service svc, Service.Task task, String what) throws PixelForestException {
		switch (task.status) {
			case COMPLETE:
				break;
			case CANCELED:
				throw new CancelledException(what);
			case CRASHED: {
				String err = String.join("\n", svc.errorLines());
				stop();
				if (missingModule(err)) throw new PixelForestException(notInstalled());
				throw new PixelForestException("The Python worker stopped during " + what + "; it will restart on the next command.\n"
					+ lastLines(err, 5));
			}
			default:
				throw new PixelForestException(readable(task.error, what));
		}
		Map<String, Object> out = task.outputs;
		if (Boolean.TRUE.equals(out.get(Out.CANCELLED))) throw new CancelledException(what);
		Object err = out.get(Out.ERROR);
		if (err != null) {
			Object trace = out.get(Out.TRACE);
			if (trace != null && IJ.debugMode) IJ.log(String.valueOf(trace));
			throw new PixelForestException(String.valueOf(err));
		}
		return out;
	}

	private static void progress(TaskEvent e) {
		if (e.responseType == Service.ResponseType.UPDATE) {
			if (e.maximum > 0) IJ.showProgress((double) e.current / e.maximum);
			if (e.message != null) IJ.showStatus("Pixel Forest: " + e.message);
		}
	}

	/** A Python traceback as one readable message (the full trace goes to the Log window). */
	static String readable(String error, String what) {
		if (error == null) return "Pixel Forest: " + what + " failed.";
		if (missingModule(error)) return notInstalled();
		IJ.log("Pixel Forest: " + what + " failed in Python:\n" + error);
		return lastLines(error, 1) + "\n(see the Log window for details)";
	}

	static boolean missingModule(String error) {
		return error.contains("No module named 'pixelforest'") || error.contains("No module named 'appose'");
	}

	static String notInstalled() {
		return "pixelforest " + PythonSetup.version() + " is not installed in the Python environment " + Options.python() + ".\n"
			+ "Let Pixel Forest set up its own (Plugins > Pixel Forest > Pixel Forest Options... > Set up Python),\n"
			+ "or choose another Python there.";
	}

	static String lastLines(String text, int n) {
		String[] lines = text.trim().split("\n");
		StringBuilder sb = new StringBuilder();
		for (int i = Math.max(0, lines.length - n); i < lines.length; i++) sb.append(lines[i]).append(i < lines.length - 1 ? "\n" : "");
		return sb.toString();
	}
}
