package org.pixelforest.fiji;

import ij.IJ;

import java.util.Map;
import org.pixelforest.fiji.Protocol.Out;

/** Plugins > Pixel Forest > Pixel Forest Options...: the Python environment, threads and memory of the worker. */
public class PixelForestOptions extends PixelForestCommand {

	@Override
	protected void execute(String arg) throws Exception {
		Params p = new Params("Pixel Forest: Options");
		p.message("In use: " + Options.python() + "\nThis plugin: pixelforest " + PythonSetup.version()
			+ (PythonSetup.wheel() == null ? "" : "; its own environment: " + PythonSetup.envDir()));
		p.file("Python", Options.python());
		p.message("the python executable of an environment with pixelforest installed (pip install \"pixelforest[fiji]\")");
		if (PythonSetup.wheel() != null) p.checkbox("Set up Python (again)", false);
		p.number("Threads", Options.threads());
		p.message("0 = all cores");
		p.number("Memory", Options.memoryMB());
		p.message("MB for cached features in the worker");
		p.help("<html><h2>Pixel Forest Options</h2>Pixel Forest computes in Python. <b>Python</b>: the python of an "
			+ "environment where pixelforest is installed. <b>Threads</b>: how many cores it may use (0: all). "
			+ "<b>Memory</b>: how much it keeps of computed features so that training again is fast.</html>");
		if (!p.show()) return;
		String python = p.nextString().trim();
		boolean setup = PythonSetup.wheel() != null && p.nextBoolean();
		int threads = (int) p.nextNumber(), memory = (int) p.nextNumber();
		Options.set(python, Math.max(0, threads), Math.max(64, memory));
		PythonService.stop();
		if (setup) Options.setPython(PythonSetup.create(PythonSetup.envDir()).getPath());
		Map<String, Object> out = PythonService.call(Protocol.PING, null, null, "starting Python");
		IJ.log("Pixel Forest: pixelforest " + out.get(Out.VERSION) + " in " + out.get(Out.PYTHON));
	}
}
