package org.pixelforest.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import org.apposed.appose.NDArray;

import java.util.HashMap;
import java.util.Map;
import org.pixelforest.fiji.Protocol.Key;
import org.pixelforest.fiji.Protocol.Out;

/**
 * Plugins > Pixel Forest > Export HDF5: the image as ilastik4ij's Export HDF5 writes it, with its
 * name and macro keys ({@code exportpath}, {@code datasetname}, {@code compressionlevel},
 * {@code input}; {@code select} is taken for the path when {@code exportpath} is missing, as one
 * of ilastik4ij's examples writes it). Without a path a macro fails; the dialog offers the image's
 * own folder and name.
 */
public class ExportHDF5 extends PixelForestCommand {

	@Override
	protected void execute(String arg) throws Exception {
		ImagePlus imp = WindowManager.getCurrentImage();
		String given = ij.Macro.getOptions() == null ? "" : ij.Macro.getValue(ij.Macro.getOptions(), "input", "");
		if (imp == null && given.isEmpty()) imp = currentImage();  // "There is no image open."
		if (imp == null) imp = IJ.openImage(given);
		if (imp == null) throw new IllegalArgumentException("input: no open image titled \"" + given + "\" and no such image file");
		Params p = new Params("Pixel Forest: Export HDF5");
		String options = ij.Macro.getOptions();
		String fallback = options == null ? beside(imp, ".h5") : ij.Macro.getValue(options, "select", "");
		p.file("exportpath", fallback);
		p.string("datasetname", "data");
		p.number("compressionlevel", 0);
		p.string("input", imp.getTitle());
		p.help("<html><h2>Export HDF5</h2>Saves the image as an HDF5 file laid out as ilastik's Fiji plugin (ilastik4ij) writes "
			+ "it, for ilastik and batch work: dataset 'data', axes t, z, y, x, c. Compression 0 (none, fastest) to 9.</html>");
		if (!p.show()) return;
		String path = p.nextString().trim(), dataset = p.nextString().trim();
		int level = (int) p.nextNumber();
		String input = p.nextString().trim();
		if (path.isEmpty()) throw new IllegalArgumentException("Export HDF5 needs exportpath=[/path/to/file.h5]");
		if (!input.isEmpty() && !input.equals(imp.getTitle())) {  // a title, or (as in ilastik4ij) an image file
			ImagePlus named = WindowManager.getImage(input);
			if (named == null && new java.io.File(input).isFile()) named = IJ.openImage(input);
			if (named == null) throw new IllegalArgumentException("input: no open image titled \"" + input + "\" and no such image file");
			imp = named;
		}
		NDArray img = ImageBridge.toNDArray(imp);
		try {
			Map<String, Object> params = new HashMap<>();
			params.put(Key.PATH, path);
			params.put(Key.DATASET, dataset.isEmpty() ? "data" : dataset);
			params.put(Key.COMPRESSION, level);
			Map<String, Object> out = PythonService.call(Protocol.EXPORT_HDF5, params, img, "exporting " + imp.getTitle());
			IJ.showStatus("Pixel Forest: exported " + imp.getTitle() + " to " + out.get(Out.PATH));
		}
		finally {
			img.close();
		}
	}
}
