package org.pixelforest.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import org.apposed.appose.NDArray;

import java.util.HashMap;
import java.util.Map;

/** Plugins > Pixel Forest > Export HDF5...: the image as ilastik4ij's Export HDF5 writes it (same macro keys). */
public class ExportHDF5 extends PixelForestCommand {

	@Override
	protected void execute(String arg) throws Exception {
		ImagePlus imp = currentImage();
		Params p = new Params("Pixel Forest: Export HDF5");
		p.file("exportpath", TrainClassifier.defaultPath(imp).replaceAll("\\.pfc$", "") + ".h5");
		p.string("datasetname", "data");
		p.number("compressionlevel", 0);
		p.string("input", imp.getTitle());
		if (!p.show()) return;
		String path = p.nextString().trim(), dataset = p.nextString().trim();
		int level = (int) p.nextNumber();
		String input = p.nextString().trim();
		if (!input.isEmpty() && !input.equals(imp.getTitle())) {
			imp = WindowManager.getImage(input);
			if (imp == null) throw new IllegalArgumentException("no open image titled \"" + input + "\"");
		}
		NDArray img = ImageBridge.toNDArray(imp);
		try {
			Map<String, Object> params = new HashMap<>();
			params.put("path", path);
			params.put("dataset", dataset.isEmpty() ? "data" : dataset);
			params.put("compression", level);
			Map<String, Object> out = PythonService.call("export_hdf5", params, img, "exporting " + imp.getTitle());
			IJ.showStatus("Pixel Forest: exported " + imp.getTitle() + " to " + out.get("path"));
		}
		finally {
			img.close();
		}
	}
}
